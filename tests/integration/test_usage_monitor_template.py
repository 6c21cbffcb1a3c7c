"""The usage monitor's template: schedule, alarm rule, DLQ, and the optional parts (off by default).

moto's CloudFormation skips AWS::CloudWatch::Alarm and AWS::SNS::Subscription, so the optional parts
are checked on the template itself, and the stack is deployed with them switched on to show that the
parameters and conditions resolve.
"""

from __future__ import annotations

from moto import mock_aws

from aupctl.stack import deploy, load_template


def test_schedule_alarm_rule_and_dead_letter_queue():
    fn = load_template()["Resources"]["UsageMonitorFunction"]["Properties"]
    assert fn["Events"]["Sweep"]["Properties"]["Schedule"] == "rate(5 minutes)"
    pattern = fn["Events"]["AlarmStateChange"]["Properties"]["Pattern"]
    assert pattern == {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
    assert fn["DeadLetterQueue"]["Type"] == "SQS"
    [read] = [s for s in fn["Policies"][0]["Statement"] if s["Sid"] == "ReadMetrics"]
    assert read["Action"] == "cloudwatch:GetMetricData"  # the only unscoped action, and it cannot be scoped


def test_optional_parts_default_off():
    t = load_template()
    assert t["Parameters"]["UsageAlarmTopicArn"]["Default"] == ""
    assert t["Parameters"]["UsageExampleAlarmAccountId"]["Default"] == ""
    conditions = {
        "UsageAlarmTopicSubscription": "HasUsageAlarmTopic",
        "UsageAlarmTopicPermission": "HasUsageAlarmTopic",
        "UsageExampleCpuAlarm": "CreateUsageExampleAlarms",
        "UsageExampleRequestsAlarm": "CreateUsageExampleAlarms",
    }
    for logical_id, condition in conditions.items():
        assert t["Resources"][logical_id]["Condition"] == condition
        assert condition in t["Conditions"]


def test_example_alarms_have_the_shape_the_monitor_maps():
    t = load_template()
    from aup.policy import load_default_policy

    rules = load_default_policy().usage_monitoring.alarm_rules
    for logical_id in ("UsageExampleCpuAlarm", "UsageExampleRequestsAlarm"):
        alarm = t["Resources"][logical_id]["Properties"]
        assert alarm["Dimensions"] == [{"Name": "AccountId", "Value": {"Ref": "UsageExampleAlarmAccountId"}}]
        assert alarm["Namespace"] == {"Ref": "MetricsNamespace"} and alarm["MetricName"] in rules
        assert alarm["Statistic"] in {"Sum", "Maximum", "Average"}  # no percentiles
        assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3 and alarm["Period"] == 300


def test_stack_deploys_with_the_optional_parts_switched_on():
    with mock_aws():
        import boto3

        topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="usage-alarms")["TopicArn"]
        deployed = deploy(parameters={"UsageAlarmTopicArn": topic, "UsageExampleAlarmAccountId": "acme-hog"})
        assert "UsageMonitorFunction" in deployed.resources
