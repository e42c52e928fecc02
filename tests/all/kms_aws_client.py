# Direct access to AWS Secrets Manager / SSM (moto) for the KMS tests, with
# boto3 and the very calls OpenMetadata's Python side makes to read secrets:
#   AWSSecretsManager:    get_secret_value(SecretId=<id>)["SecretString"]
#   AWSSSMSecretsManager: get_parameter(Name=<id>, WithDecryption=True)
# A long-lived helper: the first stdin line is {"endpoint", "region", "key_id",
# "secret_key"}; then each line is a list of ops [{"op", ...}] answered by one
# stdout line holding, per op, {"ok": result} or {"error": "<AWS error code>"}.
import json
import sys

import boto3
from botocore.exceptions import ClientError

req = json.loads(sys.stdin.readline())
kw = dict(
    endpoint_url=req["endpoint"],
    region_name=req["region"],
    aws_access_key_id=req["key_id"],
    aws_secret_access_key=req["secret_key"],
)
sm = boto3.client("secretsmanager", **kw)
ssm = boto3.client("ssm", **kw)


def run(op):
    o, i = op["op"], op.get("id")
    if o == "get_secret":
        return sm.get_secret_value(SecretId=i)["SecretString"]
    if o == "describe_secret":
        d = sm.describe_secret(SecretId=i)
        return {"tags": {t["Key"]: t["Value"] for t in d.get("Tags", [])}, "description": d.get("Description"), "arn": d["ARN"], "name": d["Name"]}
    if o == "list_secrets":
        names = []
        for page in sm.get_paginator("list_secrets").paginate():
            names += [s["Name"] for s in page["SecretList"]]
        return sorted(n for n in names if n.startswith(op["prefix"]))
    if o == "put_secret":
        try:
            sm.create_secret(Name=i, SecretString=op["value"])
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceExistsException":
                raise
            sm.put_secret_value(SecretId=i, SecretString=op["value"])
        return True
    if o == "get_parameter":
        p = ssm.get_parameter(Name=i, WithDecryption=True)["Parameter"]
        return {"value": p["Value"], "type": p["Type"]}
    if o == "parameter_tags":
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=i)["TagList"]
        return {t["Key"]: t["Value"] for t in tags}
    if o == "list_parameters":
        names = []
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=op["prefix"].rstrip("/"), Recursive=True):
            names += [p["Name"] for p in page["Parameters"]]
        return sorted(names)
    if o == "put_parameter":
        ssm.put_parameter(Name=i, Value=op["value"], Type="SecureString", Overwrite=True)
        return True
    if o == "label_parameter":
        ssm.label_parameter_version(Name=i, Labels=[op["label"]])
        return True
    if o == "create_secret":
        sm.create_secret(Name=i, SecretString=op["value"])
        return True
    raise ValueError(f"unknown op {o}")


for line in sys.stdin:
    out = []
    for op in json.loads(line):
        try:
            out.append({"ok": run(op)})
        except ClientError as e:
            out.append({"error": e.response["Error"]["Code"]})
    print(json.dumps(out), flush=True)
