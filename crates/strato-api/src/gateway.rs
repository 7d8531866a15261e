//! The gateway: every request on `--http` goes to the function whose route
//! matches its path.

use std::sync::Arc;
use strato_engine::Platform;

/// The gateway's request handler.
pub fn service(platform: Arc<Platform>) -> impl crate::HttpService {
    move |request: http::Request<hyper::body::Incoming>| -> crate::ResponseFuture {
        let platform = platform.clone();
        Box::pin(async move { platform.handle_gateway(request).await })
    }
}
