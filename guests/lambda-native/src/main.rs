//! A Lambda function on the `provided` runtime: AWS's `lambda_runtime`
//! crate, unchanged, speaking the Runtime API Strato serves.
//!
//! The event decides what it does: `{"fail": ..}` (or a route path ending
//! in `/fail`) returns an error; `{"probe": true}` (or `/probe`) tries
//! syscalls Docker's default seccomp profile refuses and answers the errno
//! of each; anything else is echoed with the invocation's context.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// The errno a call left, or 0 if it succeeded.
fn errno_of(result: libc::c_long) -> i32 {
    if result == -1 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

/// Syscalls a container of Docker's default profile may not make.
fn probe() -> Value {
    // SAFETY: plain syscalls with constant arguments; none touches memory
    // the program owns.
    let unshare = errno_of(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as libc::c_long);
    let mount = errno_of(unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/tmp".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    } as libc::c_long);
    // KEYCTL_GET_KEYRING_ID of the session keyring, creating none.
    let keyctl = errno_of(unsafe {
        libc::syscall(libc::SYS_keyctl, 0 as libc::c_long, -3 as libc::c_long, 0 as libc::c_long)
    });
    json!({ "unshare": unshare, "mount": mount, "keyctl": keyctl, "eperm": libc::EPERM })
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let path = payload["rawPath"].as_str().unwrap_or_default();
    if payload.get("fail").is_some() || path.ends_with("/fail") {
        return Err(format!("asked to fail at {path}").into());
    }
    if payload.get("probe").is_some() || path.ends_with("/probe") {
        return Ok(probe());
    }
    println!("rust got {}", payload.get("rawPath").unwrap_or(&payload));
    Ok(json!({
        "rust": true,
        "request_id": context.request_id,
        "deadline_ms": context.deadline,
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        "got": payload,
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
