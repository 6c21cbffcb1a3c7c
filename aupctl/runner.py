"""Run a function of the template in-process against the local stack, as ``sam local invoke`` does.

Handler and code folder come from the template, the layer folders go on ``sys.path`` (as Lambda puts
``/opt/python`` there), the environment is the deployed function's (``get_function_configuration``:
physical names resolved), boto3 is pointed at the local endpoint with fake credentials, and the
handler's standard output goes to standard error, with its embedded-metric-format lines published
to the local CloudWatch as Lambda's log pipeline does on AWS.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from aupctl import state
from aupctl.errors import CliError
from aupctl.events import ACCOUNT, LambdaContext

__all__ = ["ACCOUNT", "FunctionRunner", "FunctionSpec", "Invocation", "LocalStack", "StdoutTee"]
from aupctl.stack import DEFAULT_STACK, REGION, TEMPLATE, code_locations, load_template

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # moto's
PLACEHOLDER_MARK = "raise NotImplementedError"


def local_environment(endpoint: str) -> dict[str, str]:
    """What every client in this process needs to reach the local stack and never real AWS."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # No X-Ray daemon locally (as under `sam local`): the tracer would only cost its import.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str  # module.function
    layer_dirs: list[Path]

    @property
    def module_file(self) -> Path:
        module = self.handler.rsplit(".", 1)[0]
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def is_placeholder(self) -> bool:
        """The skeleton's stub handler (raises NotImplementedError): the function is not written yet."""
        try:
            text = self.module_file.read_text(encoding="utf-8")
        except OSError:
            return True
        return PLACEHOLDER_MARK in text and len(text.splitlines()) < 10


def function_specs(template: dict[str, Any]) -> dict[str, FunctionSpec]:
    """Every ``AWS::Serverless::Function`` of a SAM template, with its handler, code and layer folders."""
    resources = template.get("Resources", {})
    glob = (template.get("Globals", {}) or {}).get("Function", {}) or {}
    folders = code_locations(template)
    out: dict[str, FunctionSpec] = {}
    for logical_id, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {}) or {}
        layers = []
        for ref in props.get("Layers", glob.get("Layers", [])) or []:
            name = ref.get("Ref") if isinstance(ref, dict) else None
            if name in folders:
                layers.append(folders[name])
        out[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=folders.get(logical_id, Path(".")),
            handler=str(props.get("Handler", glob.get("Handler", "app.lambda_handler"))),
            layer_dirs=layers,
        )
    return out


class StdoutTee(io.TextIOBase):
    """Stands in for a handler's stdout: every line goes to ``sink`` and is kept for EMF extraction.

    Long-lived on purpose: powertools' Logger keeps the stream it saw at import, so a warm handler
    module keeps writing here between invocations.
    """

    def __init__(self, sink: TextIO) -> None:
        self.sink = sink
        self.lines: list[str] = []
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.sink.write(s)
        text = self._partial + s
        *complete, self._partial = text.split("\n")
        self.lines.extend(line for line in complete if line)
        return len(s)

    def flush(self) -> None:
        self.sink.flush()

    def drain(self) -> list[str]:
        lines, self.lines = self.lines, []
        if self._partial:
            lines.append(self._partial)
            self._partial = ""
        return lines


@dataclass
class Invocation:
    result: Any
    metrics_published: int = 0
    stdout_lines: list[str] = field(default_factory=list)


class LocalStack:
    """The local stack listening on ``port``: its endpoint, stack, template and clients."""

    def __init__(self, port: int, stack_name: str = DEFAULT_STACK, template_path: Path = TEMPLATE) -> None:
        self.port = port
        self.endpoint = state.endpoint(port)
        self.stack_name = stack_name
        self.template_path = template_path
        self._clients: dict[str, Any] = {}

    @classmethod
    def connect(cls, port: int) -> LocalStack:
        """The stack on ``port``; raises CliError when nothing answers there or no stack is deployed."""
        recorded = state.load_state(port)
        if not state.endpoint_answers(port):
            raise CliError(f"no local stack on port {port}: start one with `aupctl local up --port {port}`")
        if recorded is not None and recorded.status != "ready":
            raise CliError(f"the local stack on port {port} is {recorded.status}; see {state.log_file(port)}")
        if recorded is not None:
            return cls(port, recorded.stack, Path(recorded.template))
        return cls(port)

    @cached_property
    def session(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )

    def client(self, service: str) -> Any:
        """One client per service: creating one costs tens of milliseconds."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    @cached_property
    def template(self) -> dict[str, Any]:
        return load_template(self.template_path)

    @cached_property
    def functions(self) -> dict[str, FunctionSpec]:
        return function_specs(self.template)

    @cached_property
    def resources(self) -> dict[str, str]:
        """Logical id -> physical id of the deployed stack; CliError when it is not deployed."""
        cfn = self.client("cloudformation")
        try:
            pages = cfn.get_paginator("list_stack_resources").paginate(StackName=self.stack_name)
            return {
                r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
                for page in pages
                for r in page["StackResourceSummaries"]
            }
        except Exception as err:  # botocore's ClientError or a connection error
            raise CliError(f"stack {self.stack_name} is not deployed on port {self.port}: {err}") from err

    def outputs(self) -> dict[str, str]:
        desc = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}


class FunctionRunner:
    """Invokes the template's functions in this process; handler modules stay warm between calls."""

    def __init__(self, local: LocalStack, log_stream: TextIO | None = None) -> None:
        self.local = local
        self.tee = StdoutTee(log_stream or sys.stderr)
        self._modules: dict[str, ModuleType] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._warm: str | None = None  # the function whose settings aup.bootstrap holds

    def close(self) -> None:
        """Forget the warm function's domain caches (callers that go on using ``aup`` in-process)."""
        if self._warm is not None:
            _reset_domain_caches()
            self._warm = None

    def spec(self, logical_id: str) -> FunctionSpec:
        specs = self.local.functions
        if logical_id not in specs:
            raise CliError(f"unknown function {logical_id!r}; the template has: {', '.join(sorted(specs))}")
        return specs[logical_id]

    def configuration(self, logical_id: str) -> dict[str, Any]:
        if logical_id not in self._configs:
            physical = self.local.resources.get(logical_id)
            if not physical:
                raise CliError(f"function {logical_id} is not deployed in stack {self.local.stack_name}")
            lam = self.local.client("lambda")
            self._configs[logical_id] = lam.get_function_configuration(FunctionName=physical)
        return self._configs[logical_id]

    def environment(self, logical_id: str) -> dict[str, str]:
        config = self.configuration(logical_id)
        env = {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
        env.update(local_environment(self.local.endpoint))
        env.update(
            AWS_LAMBDA_FUNCTION_NAME=str(config.get("FunctionName", logical_id)),
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(config.get("MemorySize", 128)),
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        )
        return env

    def handler(self, logical_id: str) -> Callable[[Any, Any], Any]:
        spec = self.spec(logical_id)
        module = self._modules.get(logical_id)
        if module is None:
            for folder in [spec.code_dir, *spec.layer_dirs]:
                if str(folder) not in sys.path:
                    sys.path.insert(0, str(folder))
            path = spec.module_file
            if not path.is_file():
                raise CliError(f"{logical_id}: handler file {path} does not exist")
            name = f"aupctl_function_{logical_id}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            with redirect_stdout(self.tee):
                module_spec.loader.exec_module(module)
            self._modules[logical_id] = module
        func = getattr(module, spec.handler.rsplit(".", 1)[1], None)
        if not callable(func):
            raise CliError(f"{logical_id}: {spec.module_file} has no function {spec.handler}")
        return func

    def invoke(self, logical_id: str, event: Any) -> Invocation:
        """Run the handler on ``event``; its exceptions propagate (the caller reports them)."""
        self.spec(logical_id)
        env = self.environment(logical_id)
        config = self.configuration(logical_id)
        with function_environment(env), redirect_stdout(self.tee):
            self.tee.drain()
            if self._warm != logical_id:
                # Each function parses its own environment: forget the previous one's settings, policy
                # and clients. Calls to the same function stay warm, as in one Lambda environment.
                _reset_domain_caches()
                self._warm = logical_id
            try:
                func = self.handler(logical_id)
                result = func(event, LambdaContext.from_configuration(config))
            finally:
                self.tee.flush()
                lines = self.tee.drain()
        from aupctl import emf

        published = emf.publish(lines, self.local.client("cloudwatch"))
        return Invocation(result=result, metrics_published=published, stdout_lines=lines)


def _reset_domain_caches() -> None:
    """Forget ``aup.bootstrap``'s cached settings, policy, ledger and clients (when it is loaded)."""
    runtime = sys.modules.get("aup.bootstrap")
    if runtime is not None:
        runtime.reset()


@contextmanager
def function_environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` as the function sees it, restored afterwards (tests run this in-process)."""
    saved = dict(os.environ)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(var, None)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
