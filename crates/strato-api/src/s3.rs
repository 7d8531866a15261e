//! The S3 listener. Buckets are not built yet: every request gets S3's
//! `NotImplemented` error document, so S3 clients fail clearly.

pub fn service() -> impl crate::HttpService {
    |request: http::Request<hyper::body::Incoming>| -> crate::ResponseFuture {
        Box::pin(async move {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NotImplemented</Code><Message>Strato's S3 API is not available in this version</Message><Resource>{}</Resource><RequestId>0</RequestId></Error>",
                xml_escape(request.uri().path())
            );
            http::Response::builder()
                .status(501)
                .header("content-type", "application/xml")
                .body(strato_engine::full_body(body))
                .expect("static response parts are valid")
        })
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
