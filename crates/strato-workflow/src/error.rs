//! The errors of the States Language: a name (`States.Timeout`, or a
//! task's own error type) and a cause, as AWS reports them.

use serde::{Deserialize, Serialize};

/// The predefined error names.
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const RUNTIME: &str = "States.Runtime";
}

/// A failure an execution can catch, retry or end with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct StatesError {
    pub error: String,
    pub cause: String,
}

impl StatesError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> StatesError {
        StatesError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// A runtime error (bad paths, bad types): not matched by `States.ALL`
    /// and ends the execution.
    pub fn runtime(cause: impl Into<String>) -> StatesError {
        StatesError::new(names::RUNTIME, cause)
    }

    pub fn intrinsic(cause: impl Into<String>) -> StatesError {
        StatesError::new(names::INTRINSIC_FAILURE, cause)
    }

    /// Whether a Retrier's or Catcher's `ErrorEquals` names this error.
    /// `States.ALL` matches every error but `States.Runtime` and
    /// `States.DataLimitExceeded` (which end the execution, as on AWS);
    /// `States.TaskFailed` matches every error but `States.Timeout`.
    pub fn matches(&self, error_equals: &[String]) -> bool {
        let terminal = matches!(
            self.error.as_str(),
            names::RUNTIME | names::DATA_LIMIT_EXCEEDED
        );
        error_equals.iter().any(|name| {
            name == &self.error
                || (name == names::ALL && !terminal)
                || (name == names::TASK_FAILED && !terminal && self.error != names::TIMEOUT)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn all_matches_everything_but_runtime_and_data_limit() {
        let all = list(&[names::ALL]);
        assert!(StatesError::new("Lambda.Unknown", "").matches(&all));
        assert!(StatesError::new(names::TIMEOUT, "").matches(&all));
        assert!(!StatesError::runtime("").matches(&all));
        assert!(!StatesError::new(names::DATA_LIMIT_EXCEEDED, "").matches(&all));
        let task = list(&[names::TASK_FAILED]);
        assert!(StatesError::new("CustomError", "").matches(&task));
        assert!(!StatesError::new(names::TIMEOUT, "").matches(&task));
        assert!(StatesError::new("CustomError", "").matches(&list(&["CustomError"])));
        assert!(!StatesError::new("Other", "").matches(&list(&["CustomError"])));
    }
}
