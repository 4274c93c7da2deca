//! Each function runs in the tests with its own execution role's permissions.
//!
//! `scripts/test` starts moto with IAM enforced (`scripts/moto_iam_server.py`):
//! every request must be signed by an IAM user's key and allowed by that user's
//! identity policies, and moto checks them. [`function_sdk`] creates, for one
//! test stack, an IAM user holding exactly the policies of a function's role in
//! `infra/template.yaml` (its CloudFormation intrinsics resolved to the test
//! stack's table, queue and secret ARNs) and returns an SDK configuration with
//! that user's key. A path that needs a permission the template does not grant
//! fails its test with `AccessDenied`, as it would in AWS.

use crate::config::Config;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Value as Json;
use serde_norway::Value;
use std::collections::BTreeMap;

/// The SAM template, compiled in: the policies under test are the ones that deploy.
pub const TEMPLATE: &str = include_str!("../../../../infra/template.yaml");

/// Why a role's policies could not be read from the template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is not valid YAML")]
    Yaml(#[from] serde_norway::Error),
    #[error("{0}")]
    Invalid(String),
}

fn invalid(what: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(what.into())
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping().and_then(|m| m.get(key))
}

/// Where the template's intrinsic functions point for one stack.
#[derive(Debug, Clone)]
pub struct StackContext {
    pub stack: String,
    pub region: String,
    pub account: String,
    /// Parameter values (others take the template's `Default`).
    pub parameters: BTreeMap<String, String>,
    /// ARNs of the template's secrets by logical id (AWS gives them a random suffix).
    pub secret_arns: BTreeMap<String, String>,
}

/// The template with intrinsic functions resolved for one stack.
pub struct Resolver<'a> {
    resources: &'a serde_norway::Mapping,
    parameters: Option<&'a serde_norway::Mapping>,
    context: &'a StackContext,
}

impl<'a> Resolver<'a> {
    pub fn new(doc: &'a Value, context: &'a StackContext) -> Result<Self, TemplateError> {
        let resources = get(doc, "Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| invalid("the template has no Resources"))?;
        Ok(Self {
            resources,
            parameters: get(doc, "Parameters").and_then(Value::as_mapping),
            context,
        })
    }

    fn resource(&self, id: &str) -> Result<&'a Value, TemplateError> {
        self.resources
            .get(id)
            .ok_or_else(|| invalid(format!("no resource {id}")))
    }

    fn kind(&self, id: &str) -> Result<&'a str, TemplateError> {
        get(self.resource(id)?, "Type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("resource {id} has no Type")))
    }

    /// The physical name of a named resource (its TableName, QueueName, ...).
    fn name(&self, id: &str) -> Result<String, TemplateError> {
        let field = match self.kind(id)? {
            "AWS::DynamoDB::Table" => "TableName",
            "AWS::SQS::Queue" => "QueueName",
            "AWS::Logs::LogGroup" => "LogGroupName",
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => "FunctionName",
            "AWS::SecretsManager::Secret" => "Name",
            other => return Err(invalid(format!("{id}: no name for a {other}"))),
        };
        let value = get(self.resource(id)?, "Properties")
            .and_then(|p| get(p, field))
            .ok_or_else(|| invalid(format!("{id} has no {field}")))?;
        match self.resolve(value)? {
            Json::String(s) => Ok(s),
            _ => Err(invalid(format!("{id}: {field} is not a string"))),
        }
    }

    fn arn(&self, id: &str) -> Result<String, TemplateError> {
        let StackContext {
            region, account, ..
        } = self.context;
        Ok(match self.kind(id)? {
            "AWS::DynamoDB::Table" => {
                format!(
                    "arn:aws:dynamodb:{region}:{account}:table/{}",
                    self.name(id)?
                )
            }
            "AWS::SQS::Queue" => format!("arn:aws:sqs:{region}:{account}:{}", self.name(id)?),
            "AWS::Logs::LogGroup" => format!(
                "arn:aws:logs:{region}:{account}:log-group:{}:*",
                self.name(id)?
            ),
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                self.name(id)?
            ),
            "AWS::SecretsManager::Secret" => self
                .context
                .secret_arns
                .get(id)
                .cloned()
                .ok_or_else(|| invalid(format!("the ARN of secret {id} is not known")))?,
            other => return Err(invalid(format!("{id}: no ARN for a {other}"))),
        })
    }

    fn get_att(&self, target: &str) -> Result<String, TemplateError> {
        match target.split_once('.') {
            Some((id, "Arn")) => self.arn(id),
            Some((id, "QueueName")) => self.name(id),
            _ => Err(invalid(format!("unsupported !GetAtt {target}"))),
        }
    }

    fn reference(&self, name: &str) -> Result<String, TemplateError> {
        let c = self.context;
        match name {
            "AWS::Partition" => return Ok("aws".to_owned()),
            "AWS::Region" => return Ok(c.region.clone()),
            "AWS::AccountId" => return Ok(c.account.clone()),
            "AWS::StackName" => return Ok(c.stack.clone()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".to_owned()),
            _ => {}
        }
        if let Some(param) = self.parameters.and_then(|p| p.get(name)) {
            if let Some(value) = c.parameters.get(name) {
                return Ok(value.clone());
            }
            return match get(param, "Default") {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(invalid(format!("parameter {name} has no value"))),
            };
        }
        match self.kind(name)? {
            "AWS::DynamoDB::Table" | "AWS::Serverless::Function" | "AWS::Logs::LogGroup" => {
                self.name(name)
            }
            "AWS::SecretsManager::Secret" => self.arn(name),
            other => Err(invalid(format!("unsupported !Ref of a {other} ({name})"))),
        }
    }

    fn sub(&self, template: &str) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| invalid(format!("unclosed ${{ in {template:?}")))?;
            let name = &after[..end];
            if name.contains('.') {
                out.push_str(&self.get_att(name)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn intrinsic(&self, tag: &str, value: &Value) -> Result<Json, TemplateError> {
        let text = |v: &Value| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("{tag} takes a string here")))
        };
        Ok(Json::String(match tag {
            "Sub" => self.sub(&text(value)?)?,
            "Ref" => self.reference(&text(value)?)?,
            "GetAtt" => match value {
                Value::Sequence(parts) => {
                    let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                    self.get_att(&parts.join("."))?
                }
                other => self.get_att(&text(other)?)?,
            },
            other => return Err(invalid(format!("unsupported intrinsic {other}"))),
        }))
    }

    /// The value as JSON, with `!Sub`, `!Ref` and `!GetAtt` (short or long form) resolved.
    pub fn resolve(&self, value: &Value) -> Result<Json, TemplateError> {
        Ok(match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => serde_json::to_value(n).map_err(|e| invalid(e.to_string()))?,
            Value::String(s) => Json::String(s.clone()),
            Value::Sequence(items) => Json::Array(
                items
                    .iter()
                    .map(|v| self.resolve(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Mapping(map) => {
                if map.len() == 1
                    && let Some((Value::String(key), inner)) = map.iter().next()
                    && let Some(tag) = key.strip_prefix("Fn::").or((key == "Ref").then_some("Ref"))
                {
                    return self.intrinsic(tag, inner);
                }
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let key = k
                        .as_str()
                        .ok_or_else(|| invalid("a mapping key is not a string"))?;
                    out.insert(key.to_owned(), self.resolve(v)?);
                }
                Json::Object(out)
            }
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                self.intrinsic(tag.trim_start_matches('!'), &tagged.value)?
            }
        })
    }

    /// The inline policies (name, document) of the execution role of the function
    /// whose binary is `function`.
    pub fn role_policies(&self, function: &str) -> Result<Vec<(String, Json)>, TemplateError> {
        let (id, resource) = self
            .resources
            .iter()
            .find(|(_, r)| {
                get(r, "Type").and_then(Value::as_str) == Some("AWS::Serverless::Function")
                    && get(r, "Metadata")
                        .and_then(|m| get(m, "BuildProperties"))
                        .and_then(|b| get(b, "Binary"))
                        .and_then(Value::as_str)
                        == Some(function)
            })
            .ok_or_else(|| invalid(format!("no function {function} in the template")))?;
        let id = id.as_str().unwrap_or_default();
        let role = get(resource, "Properties")
            .and_then(|p| get(p, "Role"))
            .ok_or_else(|| invalid(format!("{id} names no Role")))?;
        let role_id = match role {
            Value::Tagged(t) if t.tag == "!GetAtt" => t.value.as_str().map(str::to_owned),
            Value::Mapping(m) => m
                .get("Fn::GetAtt")
                .and_then(Value::as_sequence)
                .and_then(|s| s.first())
                .and_then(Value::as_str)
                .map(|s| format!("{s}.Arn")),
            _ => None,
        }
        .and_then(|s| s.strip_suffix(".Arn").map(str::to_owned))
        .ok_or_else(|| invalid(format!("{id}: Role must be !GetAtt <Role>.Arn")))?;
        let policies = get(self.resource(&role_id)?, "Properties")
            .and_then(|p| get(p, "Policies"))
            .and_then(Value::as_sequence)
            .ok_or_else(|| invalid(format!("{role_id} has no inline Policies")))?;
        policies
            .iter()
            .map(|p| {
                let name = get(p, "PolicyName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{role_id}: a policy has no PolicyName")))?;
                let doc = get(p, "PolicyDocument")
                    .ok_or_else(|| invalid(format!("{role_id}: {name} has no PolicyDocument")))?;
                Ok((name.to_owned(), self.resolve(doc)?))
            })
            .collect()
    }

    /// Logical id and physical name of every secret the template declares.
    pub fn secrets(&self) -> Result<Vec<(String, String)>, TemplateError> {
        let mut out = Vec::new();
        for (id, r) in self.resources {
            let Some(id) = id.as_str() else { continue };
            if get(r, "Type").and_then(Value::as_str) == Some("AWS::SecretsManager::Secret") {
                out.push((id.to_owned(), self.name(id)?));
            }
        }
        Ok(out)
    }
}

/// Panics unless the moto at `AWS_ENDPOINT_URL` refuses a request signed with
/// an unknown key: without enforcement, role tests would prove nothing.
pub async fn assert_iam_enforced(sdk: &aws_config::SdkConfig) {
    let stranger = sdk
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIAUNKNOWNTESTKEY00",
            "not-a-real-secret",
            None,
            None,
            "stranger",
        )))
        .build();
    let refused = aws_sdk_dynamodb::Client::new(&stranger)
        .list_tables()
        .send()
        .await
        .is_err();
    assert!(
        refused,
        "moto at AWS_ENDPOINT_URL does not enforce IAM: run the tests with scripts/test, \
         which starts moto with IAM access control (scripts/moto_iam_server.py)"
    );
}

/// An SDK configuration for `function` (its binary name, e.g. `api`) on the stack
/// `config` names: the credentials of a new IAM user holding exactly that
/// function's execution-role policies from infra/template.yaml. `sdk` must be
/// the tests' administrator configuration ([`super::sdk`]).
///
/// # Panics
/// When moto does not enforce IAM, or the user cannot be created.
pub async fn function_sdk(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    function: &str,
) -> aws_config::SdkConfig {
    assert_iam_enforced(sdk).await;
    let stack = config
        .tables
        .data
        .strip_suffix("-data")
        .unwrap_or_else(|| panic!("{} is not a stack's data table", config.tables.data))
        .to_owned();
    let table_arn = aws_sdk_dynamodb::Client::new(sdk)
        .describe_table()
        .table_name(&config.tables.data)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe {}: {e:?}", config.tables.data))
        .table
        .and_then(|t| t.table_arn)
        .expect("moto names the table's ARN");
    // arn:aws:dynamodb:{region}:{account}:table/{name}
    let parts: Vec<&str> = table_arn.split(':').collect();
    let (region, account) = (parts[3].to_owned(), parts[4].to_owned());
    let doc: Value = serde_norway::from_str(TEMPLATE).expect("the SAM template parses");

    let mut context = StackContext {
        stack: stack.clone(),
        region,
        account,
        parameters: BTreeMap::from([(
            "MailFrom".to_owned(),
            config
                .mail_from
                .clone()
                .unwrap_or_else(|| super::TEST_MAIL_FROM.to_owned()),
        )]),
        secret_arns: BTreeMap::new(),
    };
    let names = Resolver::new(&doc, &context)
        .and_then(|r| r.secrets())
        .unwrap_or_else(|e| panic!("reading the template's secrets: {e}"));
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    for (id, name) in names {
        if let Ok(found) = secrets.describe_secret().secret_id(&name).send().await
            && let Some(arn) = found.arn
        {
            context.secret_arns.insert(id, arn);
        }
    }
    let policies = Resolver::new(&doc, &context)
        .and_then(|r| r.role_policies(function))
        .unwrap_or_else(|e| panic!("the role of {function} in the template: {e}"));

    let iam = aws_sdk_iam::Client::new(sdk);
    let user = format!("{stack}-{function}");
    iam.create_user()
        .user_name(&user)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create IAM user {user}: {e:?}"));
    for (name, document) in policies {
        iam.put_user_policy()
            .user_name(&user)
            .policy_name(&name)
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put policy {name} on {user}: {e:?}"));
    }
    let key = iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create an access key for {user}: {e:?}"))
        .access_key
        .expect("an access key");
    sdk.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            key.access_key_id,
            key.secret_access_key,
            None,
            None,
            "learnbridge-function-role",
        )))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> StackContext {
        StackContext {
            stack: "lbx".to_owned(),
            region: "us-east-1".to_owned(),
            account: "123456789012".to_owned(),
            parameters: BTreeMap::from([("MailFrom".to_owned(), "a@example.com".to_owned())]),
            secret_arns: BTreeMap::from([(
                "ApiKeyPepperSecret".to_owned(),
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:lbx/api-key-pepper-AbCdEf"
                    .to_owned(),
            )]),
        }
    }

    #[test]
    fn every_function_s_role_resolves_to_stack_arns() {
        let doc: Value = serde_norway::from_str(TEMPLATE).unwrap();
        let context = context();
        let resolver = Resolver::new(&doc, &context).unwrap();
        for function in [
            "nightly-sync",
            "enrolment-push",
            "results-fetch",
            "coursekey-webhook",
            "retry-worker",
            "api",
        ] {
            let policies = resolver.role_policies(function).unwrap();
            assert!(!policies.is_empty(), "{function}");
            let text = serde_json::to_string(&policies).unwrap();
            assert!(!text.contains("${"), "{function}: {text}");
            assert!(
                text.contains("arn:aws:dynamodb:us-east-1:123456789012:table/lbx-"),
                "{function}: {text}"
            );
        }
        let api = serde_json::to_string(&resolver.role_policies("api").unwrap()).unwrap();
        assert!(api.contains("secret:lbx/api-key-pepper-AbCdEf"), "{api}");
        assert!(api.contains("secret:lbx/connections/*"), "{api}");
        // The MailFrom parameter, in the condition of a role that sends email.
        let retry =
            serde_json::to_string(&resolver.role_policies("retry-worker").unwrap()).unwrap();
        assert!(
            retry.contains("\"ses:FromAddress\":\"a@example.com\""),
            "{retry}"
        );
    }
}
