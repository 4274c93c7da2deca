//! Runs the functions on one machine: the HTTP functions as axum servers, the
//! SQS functions fed by polling their queues, the schedules fired on demand.
//! The same handler code Lambda runs, over the same adapters, against moto.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use cloud::{Config, Stores};
use domain::QueueRole;
use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("could not read the {queue} queue")]
    Receive {
        queue: &'static str,
        #[source]
        source: aws_sdk_sqs::error::BoxError,
    },
    #[error("could not delete handled messages from the {queue} queue")]
    Delete {
        queue: &'static str,
        #[source]
        source: aws_sdk_sqs::error::BoxError,
    },
    #[error("could not build an SQS event from received messages")]
    Event(#[source] serde_json::Error),
    #[error("{function}'s configuration")]
    Config {
        function: &'static str,
        #[source]
        source: cloud::ConfigError,
    },
    #[error("the nightly schedule failed")]
    Nightly(#[source] nightly_sync::handler::HandlerError),
}

/// What one pass over the queues did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollReport {
    pub handled: usize,
    /// Messages the handler reported as failed: SQS delivers them again later.
    pub failed: usize,
}

/// The AWS configuration each function runs with. Locally they all share the
/// caller's; the tests give each function an IAM user holding only its role's
/// policy from infra/template.yaml (`cloud::testing::function_sdk`), so the
/// whole system runs as it is permitted to in AWS.
#[derive(Debug, Clone)]
pub struct FunctionSdks {
    pub nightly_sync: aws_config::SdkConfig,
    pub enrolment_push: aws_config::SdkConfig,
    pub results_fetch: aws_config::SdkConfig,
    pub coursekey_webhook: aws_config::SdkConfig,
    pub retry_worker: aws_config::SdkConfig,
    pub api: aws_config::SdkConfig,
    pub console: aws_config::SdkConfig,
}

impl FunctionSdks {
    /// Every function with the same configuration.
    pub fn shared(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            nightly_sync: sdk.clone(),
            enrolment_push: sdk.clone(),
            results_fetch: sdk.clone(),
            coursekey_webhook: sdk.clone(),
            retry_worker: sdk.clone(),
            api: sdk.clone(),
            console: sdk.clone(),
        }
    }

    /// The function that consumes a queue (its event source mapping polls with
    /// the function's role).
    fn consumer(&self, role: QueueRole) -> &aws_config::SdkConfig {
        match role {
            QueueRole::EnrolmentPush => &self.enrolment_push,
            QueueRole::ResultsFetch => &self.results_fetch,
            QueueRole::Deliveries => &self.retry_worker,
        }
    }
}

/// The whole system, in-process.
pub struct LocalSystem {
    pub config: Config,
    sdk: aws_config::SdkConfig,
    functions: FunctionSdks,
    nightly: nightly_sync::Deps,
    push: enrolment_push::Deps,
    fetch: results_fetch::Deps,
    /// Locally without SES, notices go to a sender moto refuses: logged, not fatal.
    retry: Result<retry_worker::Deps, retry_worker::DepsError>,
    api: api::AppState,
    console: console::ConsoleState,
    webhook: coursekey_webhook::Deps,
}

/// The error of `function`'s config.
fn config_error(function: &'static str) -> impl FnOnce(cloud::ConfigError) -> RunnerError {
    move |source| RunnerError::Config { function, source }
}

impl LocalSystem {
    /// The configuration each function runs with (its role's credentials in tests).
    pub fn function_sdks(&self) -> &FunctionSdks {
        &self.functions
    }

    /// Every function with `sdk`'s credentials.
    pub fn new(config: Config, sdk: aws_config::SdkConfig) -> Result<Self, RunnerError> {
        let functions = FunctionSdks::shared(&sdk);
        Self::with_functions(config, sdk, functions)
    }

    /// Each function with its own configuration; `sdk` seeds and inspects the stack.
    ///
    /// Each function is built by its own composition root (`Deps::from_aws`,
    /// `api::AppState::from_aws`), as its `main` builds it, from its own typed config
    /// read out of the stack's variables (what `provision` prints).
    pub fn with_functions(
        config: Config,
        sdk: aws_config::SdkConfig,
        functions: FunctionSdks,
    ) -> Result<Self, RunnerError> {
        let nightly =
            nightly_sync::Config::from_stack(&config).map_err(config_error("nightly-sync"))?;
        let push =
            enrolment_push::Config::from_stack(&config).map_err(config_error("enrolment-push"))?;
        let fetch =
            results_fetch::Config::from_stack(&config).map_err(config_error("results-fetch"))?;
        let webhook = coursekey_webhook::Config::from_stack(&config)
            .map_err(config_error("coursekey-webhook"))?;
        let api = api::Config::from_stack(&config).map_err(config_error("api"))?;
        let console = console::Config::from_stack(&config).map_err(config_error("console"))?;
        // Locally a stack may have no sender: the notices then go to one moto refuses.
        let retry = retry_worker::Config::from_stack(&Config {
            mail_from: config
                .mail_from
                .clone()
                .or_else(|| Some("learnbridge@localhost".to_owned())),
            ..config.clone()
        })
        .map_err(config_error("retry-worker"))?;
        Ok(Self {
            nightly: nightly_sync::Deps::from_aws(&nightly, &functions.nightly_sync),
            push: enrolment_push::Deps::from_aws(&push, &functions.enrolment_push),
            fetch: results_fetch::Deps::from_aws(&fetch, &functions.results_fetch),
            retry: retry_worker::Deps::from_aws(&retry, &functions.retry_worker),
            api: api::AppState::from_aws(&api, &functions.api),
            console: console::ConsoleState::from_aws(&console, &functions.console),
            webhook: coursekey_webhook::Deps::from_aws(&webhook, &functions.coursekey_webhook),
            functions,
            config,
            sdk,
        })
    }

    /// Adapters over this stack, for seeding and inspecting it.
    pub fn stores(&self) -> Stores {
        Stores::new(&self.config, &self.sdk)
    }

    /// The HTTP API's routes on one address, as API Gateway routes them to two
    /// functions: the api's Router (`/health`, `/openapi.json`, `/v1/...`) beside the
    /// console's (`/console/...`), each as `lambda_http::run` serves it in Lambda.
    pub async fn api_router(&self) -> Result<axum::Router, RunnerError> {
        Ok(api::app(self.api.clone()).merge(self.console_router()))
    }

    /// The console function's Router alone (`/console/...`).
    pub fn console_router(&self) -> axum::Router {
        console::app(self.console.clone())
    }

    /// The coursekey-webhook function's Router.
    pub fn webhook_router(&self) -> axum::Router {
        coursekey_webhook::app(self.webhook.clone())
    }

    /// Fires the nightly schedule as EventBridge Scheduler would for `scheduled_at`.
    pub async fn fire_nightly(
        &self,
        scheduled_at: DateTime<Utc>,
    ) -> Result<nightly_sync::handler::Response, RunnerError> {
        let event = nightly_sync::handler::ScheduledInvocation {
            schedule: "nightly".to_owned(),
            scheduled_time: Some(scheduled_at),
        };
        nightly_sync::handler::handle(&self.nightly, event, Utc::now())
            .await
            .map_err(RunnerError::Nightly)
    }

    /// Fires the CourseKey roster tick (every minute in AWS) as EventBridge
    /// Scheduler would for `scheduled_at`: the pushes due are queued; `drain` runs them.
    pub async fn fire_roster_tick(
        &self,
        scheduled_at: DateTime<Utc>,
    ) -> Result<nightly_sync::handler::Response, RunnerError> {
        let event = nightly_sync::handler::ScheduledInvocation {
            schedule: "coursekey_roster".to_owned(),
            scheduled_time: Some(scheduled_at),
        };
        nightly_sync::handler::handle(&self.nightly, event, Utc::now())
            .await
            .map_err(RunnerError::Nightly)
    }

    /// Fires the daily retry schedule.
    pub async fn fire_daily_retry(&self, scheduled_at: DateTime<Utc>) -> Result<(), RunnerError> {
        let event = retry_worker::handler::Invocation::Schedule(
            retry_worker::handler::ScheduledInvocation {
                schedule: "daily-retry".to_owned(),
                scheduled_time: Some(scheduled_at),
            },
        );
        let deps = match &self.retry {
            Ok(deps) => deps,
            Err(error) => {
                tracing::error!(
                    error = error as &dyn std::error::Error,
                    "retry-worker is not set up"
                );
                return Ok(());
            }
        };
        if let Err(error) = retry_worker::handler::handle(deps, event).await {
            tracing::error!(
                error = &error as &dyn std::error::Error,
                "daily retry failed"
            );
        }
        Ok(())
    }

    /// Receives one batch (up to 10) from each queue and runs it through the
    /// queue's function, deleting what it handled, as Lambda's event source
    /// mapping does with ReportBatchItemFailures.
    pub async fn poll_once(&self) -> Result<PollReport, RunnerError> {
        let mut report = PollReport::default();
        for role in QueueRole::ALL {
            let Some(url) = self.config.queues.url(role) else {
                continue;
            };
            let sqs = aws_sdk_sqs::Client::new(self.functions.consumer(role));
            let received = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| RunnerError::Receive {
                    queue: role.name(),
                    source: e.into(),
                })?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                continue;
            }
            let event = sqs_event(url, &messages)?;
            let response = self.dispatch(role, event).await;
            let failed: HashSet<String> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.clone())
                .collect();
            for message in &messages {
                let id = message.message_id.clone().unwrap_or_default();
                if failed.contains(&id) {
                    continue;
                }
                if let Some(handle) = &message.receipt_handle {
                    sqs.delete_message()
                        .queue_url(url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(|e| RunnerError::Delete {
                            queue: role.name(),
                            source: e.into(),
                        })?;
                }
            }
            report.handled += messages.len();
            report.failed += failed.len();
        }
        Ok(report)
    }

    async fn dispatch(&self, role: QueueRole, event: SqsEvent) -> SqsBatchResponse {
        match role {
            QueueRole::EnrolmentPush => enrolment_push::handler::handle(&self.push, event).await,
            QueueRole::ResultsFetch => results_fetch::handler::handle(&self.fetch, event).await,
            QueueRole::Deliveries => {
                let Ok(deps) = &self.retry else {
                    // Not set up: every message goes back to the queue.
                    let mut response = SqsBatchResponse::default();
                    for record in &event.records {
                        response.add_failure(record.message_id.clone().unwrap_or_default());
                    }
                    return response;
                };
                match retry_worker::handler::handle(
                    deps,
                    retry_worker::handler::Invocation::Sqs(event),
                )
                .await
                {
                    Ok(retry_worker::handler::Response::Sqs(response)) => response,
                    // An SQS invocation always answers with a batch response.
                    Ok(retry_worker::handler::Response::Schedule { .. }) | Err(_) => {
                        SqsBatchResponse::default()
                    }
                }
            }
        }
    }

    /// Polls until a pass finds nothing to do: every job queued so far, and every
    /// job those jobs queued, has been handled (failed ones wait for SQS to
    /// deliver them again after their visibility timeout).
    pub async fn drain(&self) -> Result<PollReport, RunnerError> {
        let mut total = PollReport::default();
        loop {
            let pass = self.poll_once().await?;
            if pass.handled == 0 {
                return Ok(total);
            }
            total.handled += pass.handled;
            total.failed += pass.failed;
        }
    }
}

/// The SQS event Lambda's event source mapping would build from these messages.
fn sqs_event(url: &str, messages: &[aws_sdk_sqs::types::Message]) -> Result<SqsEvent, RunnerError> {
    let name = url.rsplit('/').next().unwrap_or_default();
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .attributes
                .as_ref()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone().into()))
                        .collect()
                })
                .unwrap_or_default();
            serde_json::json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "md5OfBody": m.md5_of_body,
                "attributes": attributes,
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{name}"),
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).map_err(RunnerError::Event)
}
