//! Statement execution that waits for a final state.

use crate::error::{Error, ErrorKind, OperationState};
use crate::service::sql::{
    StatementExecutionApi, StatementExecutionExecuteStatementRequest, StatementResponse, StatementState,
};
use crate::service::{WaitOptions, WaitSpec};
use crate::Result;

static STATEMENT: WaitSpec = WaitSpec {
    what: "statement",
    target: &["SUCCEEDED", "FAILED", "CANCELED", "CLOSED"],
    failure: &[],
    status_path: &["status", "state"],
    message_path: &["status", "error", "message"],
    outcome: None,
};

impl StatementExecutionApi {
    /// Execute and poll until the statement is final. A statement that ends
    /// `FAILED`, `CANCELED` or `CLOSED` is an `OperationFailed` error with its
    /// message; `SUCCEEDED` returns the response with the first result chunk.
    pub async fn execute_and_wait(
        &self,
        request: StatementExecutionExecuteStatementRequest,
        options: WaitOptions<StatementResponse>,
    ) -> Result<StatementResponse> {
        let first = self.execute_statement("", "").with_request(request).await?;
        let response = match state_of(&first) {
            Some(StatementState::Pending | StatementState::Running) => {
                let id = first
                    .statement_id
                    .clone()
                    .ok_or_else(|| Error::decode("statement response has no statement_id"))?;
                crate::service::waiter::wait(options, &STATEMENT, &id, || self.get_statement(id.as_str()).send())
                    .await?
            }
            _ => first,
        };
        match state_of(&response) {
            Some(StatementState::Succeeded) => Ok(response),
            state => {
                let state = state.map(|s| s.to_string()).unwrap_or_else(|| "UNKNOWN".into());
                let message = response.status.as_ref().and_then(|s| s.error.as_ref()).and_then(|e| e.message.clone());
                let detail = message.clone().unwrap_or_else(|| "no message".into());
                Err(Error::new(ErrorKind::OperationFailed, format!("statement {state}: {detail}"))
                    .with_operation_state(OperationState {
                        state,
                        message,
                        resource_id: response.statement_id.clone(),
                        ..Default::default()
                    }))
            }
        }
    }
}

fn state_of(response: &StatementResponse) -> Option<StatementState> {
    response.status.as_ref().and_then(|s| s.state.clone())
}
