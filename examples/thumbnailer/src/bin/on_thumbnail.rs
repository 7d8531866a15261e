//! Logs each thumbnail the ffmpeg task writes back.
use wstd::http::body::IncomingBody;
use wstd::http::server::{Finished, Responder};
use wstd::http::{IntoBody, Request, Response};

#[wstd::http_server]
async fn main(mut request: Request<IncomingBody>, responder: Responder) -> Finished {
    let body = request.body_mut().bytes().await.unwrap_or_default();
    match thumbnailer::records(&body) {
        Ok(records) => {
            for (bucket, key, size) in records {
                println!("thumbnail s3://{bucket}/{key} is ready ({size} bytes)");
            }
            responder.respond(Response::new("ok".into_body())).await
        }
        Err(e) => {
            eprintln!("failed: {e}");
            let mut response = Response::new(e.into_body());
            *response.status_mut() = wstd::http::StatusCode::BAD_REQUEST;
            responder.respond(response).await
        }
    }
}
