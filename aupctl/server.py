"""The local stack's server process (``aupctl local up`` starts it detached).

``python -m aupctl.server --port N [--no-dispatcher] [--template T] [--stack S]``: serves moto on
127.0.0.1:N, deploys the template into it, records itself in the state directory, and runs the
uploads dispatcher until SIGTERM/SIGINT, when it stops the server and removes its state file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aupctl import state
from aupctl.stack import DEFAULT_STACK, TEMPLATE

log = logging.getLogger("aupctl.server")


class DynamoDBOneAtATime:
    """WSGI wrapper: DynamoDB requests are served one at a time, as DynamoDB applies each atomically.

    moto's backends hold no locks, so two concurrent ``TransactWriteItems`` could both pass their
    version conditions and one update would be lost, which real DynamoDB never does. Other services
    stay concurrent (an SQS long poll must not block the ledger).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def _serve(port: int) -> Any:
    """moto's WSGI app on 127.0.0.1:port in a thread (binding here, so a taken port raises OSError)."""
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = DynamoDBOneAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server(state.HOST, port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="moto-server", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aupctl.server")
    parser.add_argument("--port", type=int, default=state.DEFAULT_PORT)
    parser.add_argument("--no-dispatcher", action="store_true")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--stack", default=DEFAULT_STACK)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the log

    # Whatever the caller's shell holds, this process only ever talks to itself.
    from aupctl.runner import local_environment

    os.environ.update(local_environment(state.endpoint(args.port)))
    os.environ.pop("AWS_PROFILE", None)

    record = state.ServerState(
        pid=os.getpid(),
        port=args.port,
        status="starting",
        stack=args.stack,
        template=str(args.template.resolve()),
        dispatcher=not args.no_dispatcher,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    record.save()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    server = None
    dispatcher = None
    try:
        server = _serve(args.port)
        from aupctl.stack import deploy

        stack = deploy(endpoint_url=record.endpoint, stack_name=args.stack, template_path=args.template)
        log.info("stack %s deployed on %s: %s", stack.name, record.endpoint, stack.outputs)
        if not args.no_dispatcher:
            from aupctl.dispatcher import UploadsDispatcher
            from aupctl.runner import FunctionRunner, LocalStack

            local = LocalStack(args.port, args.stack, args.template)
            dispatcher = UploadsDispatcher(FunctionRunner(local))
            threading.Thread(target=dispatcher.run, name="dispatcher", daemon=True).start()
        record.status = "ready"
        record.save()
        log.info("ready (pid %d)", record.pid)
        stop.wait()
        return 0
    except Exception as err:
        traceback.print_exc()
        record.status, record.error = "failed", f"{type(err).__name__}: {err}".splitlines()[0]
        record.save()
        return 1
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        if server is not None:
            server.shutdown()
        if record.status != "failed":
            state.state_file(args.port).unlink(missing_ok=True)
        log.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
