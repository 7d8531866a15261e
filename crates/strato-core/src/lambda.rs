//! Lambda functions: an unmodified AWS Lambda handler, from code on a
//! runtime Strato builds from Debian packages, or from a container image
//! whose entrypoint is a Lambda runtime interface client. Run in warm
//! execution environments that speak the Lambda Runtime API.

use serde::{Deserialize, Serialize};

/// How long an unused environment is kept, unless the manifest says.
pub const DEFAULT_IDLE_MS: u64 = 10 * 60_000;
/// How long a runtime may take to ask for its first invocation.
pub const DEFAULT_INIT_TIMEOUT_MS: u64 = 10_000;

/// A runtime Strato builds from Debian 12 packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LambdaRuntime {
    /// Python 3.11 with `awslambdaric` (`python3.11`).
    #[serde(rename = "python3.11")]
    Python311,
    /// Node.js 18 with Strato's small runtime interface client
    /// (`nodejs18`; `nodejs18.x` is accepted too).
    #[serde(rename = "nodejs18")]
    Nodejs18,
    /// A custom `bootstrap` executable in the code (`provided`; also
    /// `provided.al2` and `provided.al2023`), as Go and Rust functions use.
    #[serde(rename = "provided")]
    Provided,
}

impl LambdaRuntime {
    /// Every runtime, for error messages.
    pub const ALL: [LambdaRuntime; 3] = [
        LambdaRuntime::Python311,
        LambdaRuntime::Nodejs18,
        LambdaRuntime::Provided,
    ];

    /// Reads a manifest's `runtime`, accepting AWS's spellings.
    pub fn parse(text: &str) -> Option<LambdaRuntime> {
        match text {
            "python3.11" => Some(LambdaRuntime::Python311),
            "nodejs18" | "nodejs18.x" => Some(LambdaRuntime::Nodejs18),
            "provided" | "provided.al2" | "provided.al2023" => Some(LambdaRuntime::Provided),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LambdaRuntime::Python311 => "python3.11",
            LambdaRuntime::Nodejs18 => "nodejs18",
            LambdaRuntime::Provided => "provided",
        }
    }
}

impl std::fmt::Display for LambdaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a Lambda function's code comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum LambdaSource {
    /// A directory of code on a runtime Strato builds: mounted read-only
    /// at `/var/task`, the handler named as AWS names it (`app.handler`).
    Code {
        runtime: LambdaRuntime,
        handler: String,
        /// The directory, relative to the manifest.
        code: String,
    },
    /// An image from Strato's image store whose ENTRYPOINT is a runtime
    /// interface client and whose CMD names the handler.
    Image {
        image: String,
        /// Replaces the image's CMD (AWS's `ImageConfig.Command`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handler: Option<String>,
    },
}

/// The Lambda part of a function's spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaSpec {
    pub source: LambdaSource,
    /// How long an unused environment is kept; 0 tears it down after each
    /// invocation.
    pub idle_ms: u64,
    /// Environments kept ready (like provisioned concurrency).
    pub min_warm: u32,
    /// Longest a runtime may take from start to its first `next`.
    pub init_timeout_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_read_aws_spellings_and_round_trip() {
        assert_eq!(
            LambdaRuntime::parse("nodejs18.x"),
            Some(LambdaRuntime::Nodejs18)
        );
        assert_eq!(
            LambdaRuntime::parse("provided.al2023"),
            Some(LambdaRuntime::Provided)
        );
        assert_eq!(LambdaRuntime::parse("python3.12"), None);
        for runtime in LambdaRuntime::ALL {
            assert_eq!(LambdaRuntime::parse(runtime.as_str()), Some(runtime));
            let json = serde_json::to_string(&runtime).unwrap();
            assert_eq!(json, format!("\"{runtime}\""));
            assert_eq!(
                serde_json::from_str::<LambdaRuntime>(&json).unwrap(),
                runtime
            );
        }
    }
}
