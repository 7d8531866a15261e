//! The gateway: every request on `--http` goes to the function whose route
//! matches its path.

use crate::ResponseBody;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use strato_engine::Platform;

/// The gateway's request handler.
pub fn service(
    platform: Arc<Platform>,
) -> impl Fn(
    http::Request<hyper::body::Incoming>,
) -> Pin<Box<dyn Future<Output = http::Response<ResponseBody>> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |request| {
        let platform = platform.clone();
        Box::pin(async move { platform.handle_gateway(request).await })
    }
}
