"""moto server with IAM enforced, for the tests (scripts/test starts it).

    python moto_iam_server.py --admin-env FILE -H 127.0.0.1 -p PORT

Every request is checked by moto's own IAM access control
(INITIAL_NO_AUTH_ACTION_COUNT=0): it must be signed with an access key of an
IAM user, and that user's identity policies must allow the action on the
resource. Before serving, this creates one administrator user in moto and
writes its access key to FILE (`export AWS_ACCESS_KEY_ID=...` lines): the tests
set up and inspect their stacks with it, and run each function with the key of
a user holding exactly that function's role policy from infra/template.yaml
(cloud::testing::function_sdk).

moto evaluates the policies. What moto 5.2 lacks is the resource of a request
for DynamoDB, Secrets Manager and SES: it checks them against "*", which no
ARN-scoped statement matches. The hooks below name the resource(s) of each
request the way AWS documents its authorization, and for the DynamoDB calls
that AWS authorizes per item (TransactWriteItems, TransactGetItems) the action
of each item; each is then passed to moto's IAMRequest.check_action_permitted.
SQS already names its queue ARN in moto; its batch calls are checked as the
single-message action AWS checks them as. Each refusal is logged ("iam: denied
<user> <action> on <resource>"). Conditions (ses:FromAddress) are not
evaluated by moto: a statement's condition passes.
"""

import argparse
import json
import os
import sys

# Before moto reads its settings: every request is authenticated and authorised.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"

from moto import settings  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402
from moto.iam.access_control import IAMRequest  # noqa: E402
from moto.iam.models import iam_backends  # noqa: E402
from moto.secretsmanager.models import secretsmanager_backends  # noqa: E402
from moto.secretsmanager.responses import SecretsManagerResponse  # noqa: E402
from moto.server import main as moto_main  # noqa: E402
from moto.sesv2.responses import SESV2Response  # noqa: E402

ACCOUNT = "123456789012"
ADMIN_USER = "learnbridge-test-admin"


def _authorize(handler, checks):
    """Runs moto's signature and policy check once per (action, resource)."""
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    path = handler.raw_path
    query = handler.uri.split("?", 1)[1] if "?" in handler.uri else ""
    if query:
        path += "?" + query
    for action, resource in checks:
        request = IAMRequest(
            account_id=handler.current_account,
            method=handler.method,
            path=path,
            data=handler.data,
            body=handler.raw_body,
            headers=handler.headers,
            action=action,
        )
        request.check_signature()
        request.check_action_permitted(resource)


def _body(handler):
    try:
        return json.loads(handler.raw_body or b"{}")
    except ValueError:
        return {}


def _table_arn(handler, table, index=None):
    arn = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _dynamodb_checks(handler):
    action = handler._get_action()
    body = _body(handler)
    if action in ("BatchGetItem", "BatchWriteItem"):
        return [(action, _table_arn(handler, t)) for t in body.get("RequestItems", {})]
    if action in ("TransactWriteItems", "TransactGetItems"):
        per_item = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        checks = []
        for item in body.get("TransactItems", []):
            for kind, op in item.items():
                checks.append((per_item.get(kind, action), _table_arn(handler, op.get("TableName", "*"))))
        return checks or [(action, "*")]
    table = body.get("TableName")
    if not table:
        return [(action, "*")]
    return [(action, _table_arn(handler, table, body.get("IndexName")))]


def _dynamodb_authorize(self, resource="*"):
    _authorize(self, _dynamodb_checks(self))


def _secret_resource(self):
    body = _body(self)
    secret_id = body.get("SecretId") or body.get("Name")
    if not secret_id:
        return "*"
    secret = secretsmanager_backends[self.current_account][self.region].secrets.get(secret_id)
    if secret is not None:
        return secret.arn
    if secret_id.startswith("arn:"):
        return secret_id
    return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:{secret_id}"


def _ses_resource(self):
    sender = _body(self).get("FromEmailAddress")
    if not sender:
        return "*"
    # The sender's identity (an email-address identity; AWS also accepts its domain's).
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return f"arn:aws:ses:{self.region}:{self.current_account}:identity/{address}"


# AWS authorises the SQS batch calls as their single-message action (SQS API reference,
# "Permissions"): SendMessageBatch needs sqs:SendMessage, and so on.
SQS_BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
_check_action_permitted = IAMRequest.check_action_permitted


def _check_and_log(self, resource):
    """moto's check; a refusal is logged with who, what and on which resource."""
    self._action = SQS_BATCH_ACTIONS.get(self._action, self._action)
    try:
        _check_action_permitted(self, resource)
    except Exception:
        print(f"iam: denied {self._access_key.arn} {self._action} on {resource}", file=sys.stderr, flush=True)
        raise


IAMRequest.check_action_permitted = _check_and_log
DynamoHandler._authenticate_and_authorize_normal_action = _dynamodb_authorize
SecretsManagerResponse._determine_resource = _secret_resource
SESV2Response._determine_resource = _ses_resource


def create_admin(env_file):
    iam = iam_backends[ACCOUNT]["aws"]
    iam.create_user("us-east-1", ADMIN_USER)
    iam.put_user_policy(
        ADMIN_USER,
        "everything",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(ADMIN_USER)
    with open(env_file, "w", encoding="utf-8") as f:
        f.write(f"export AWS_ACCESS_KEY_ID={key.access_key_id}\n")
        f.write(f"export AWS_SECRET_ACCESS_KEY={key.secret_access_key}\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--admin-env", required=True)
    args, rest = parser.parse_known_args()
    create_admin(args.admin_env)
    sys.exit(moto_main(rest))
