//! On each new .mp4, starts the `ffmpeg` task with the object's bucket and
//! key, through Strato's API with the run's own token (the seed's
//! `ffmpegTask.run({environment})`).
use wstd::http::body::IncomingBody;
use wstd::http::server::{Finished, Responder};
use wstd::http::{Client, IntoBody, Method, Request, Response};

#[wstd::http_server]
async fn main(mut request: Request<IncomingBody>, responder: Responder) -> Finished {
    let body = request.body_mut().bytes().await.unwrap_or_default();
    let (status, text) = match start_tasks(&body).await {
        Ok(started) => (200, started.join("\n")),
        Err(e) => {
            eprintln!("failed: {e}");
            (500, e)
        }
    };
    let mut response = Response::new(text.into_body());
    *response.status_mut() = wstd::http::StatusCode::from_u16(status).unwrap();
    responder.respond(response).await
}

async fn start_tasks(body: &[u8]) -> Result<Vec<String>, String> {
    let api = std::env::var("STRATO_API").map_err(|_| "STRATO_API is not set")?;
    let token = std::env::var("STRATO_TOKEN").map_err(|_| "STRATO_TOKEN is not set")?;
    let app = std::env::var("STRATO_APP").map_err(|_| "STRATO_APP is not set")?;
    let mut started = Vec::new();
    for (bucket, key, size) in thumbnailer::records(body)? {
        let payload = serde_json::json!({ "env": { "BUCKET": bucket, "KEY": key } });
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{api}/api/v1/apps/{app}/tasks/ffmpeg/runs"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(payload.to_string().into_body())
            .map_err(|e| e.to_string())?;
        let mut response = Client::new().send(request).await.map_err(|e| e.to_string())?;
        let answer = response.body_mut().bytes().await.map_err(|e| e.to_string())?;
        if response.status().as_u16() != 202 {
            return Err(format!(
                "starting ffmpeg for {key}: {} {}",
                response.status(),
                String::from_utf8_lossy(&answer)
            ));
        }
        let run: serde_json::Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
        let id = run["id"].as_str().unwrap_or("?");
        println!("video s3://{bucket}/{key} ({size} bytes): started ffmpeg run {id}");
        started.push(id.to_string());
    }
    Ok(started)
}
