// The seed's two handlers. Each gets the S3 event notification as its
// event, exactly as on AWS.

// Keys in S3 events are URL-encoded, spaces as `+`.
const keyOf = (record) => decodeURIComponent(record.s3.object.key.replace(/\+/g, ' '));

// Each new .mp4 starts the `ffmpeg` task with the object's bucket and key,
// through Strato's API with the run's own token (STRATO_API, STRATO_TOKEN
// and STRATO_APP are set in every run's environment). Passing on
// _X_AMZN_TRACE_ID, as X-Ray users do for plain HTTP calls, puts the task
// run in this invocation's trace (the AWS SDKs do this on their own).
exports.onNewVideo = async (event) => {
  const { STRATO_API, STRATO_TOKEN, STRATO_APP } = process.env;
  for (const record of event.Records) {
    const bucket = record.s3.bucket.name;
    const key = keyOf(record);
    const response = await fetch(`${STRATO_API}/api/v1/apps/${STRATO_APP}/tasks/ffmpeg/runs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${STRATO_TOKEN}`,
        'content-type': 'application/json',
        'x-amzn-trace-id': process.env._X_AMZN_TRACE_ID || '',
      },
      body: JSON.stringify({ env: { BUCKET: bucket, KEY: key } }),
    });
    if (response.status !== 202) {
      throw new Error(`starting ffmpeg for ${key}: ${response.status} ${await response.text()}`);
    }
    const run = await response.json();
    console.log(`video s3://${bucket}/${key} (${record.s3.object.size} bytes): started ffmpeg run ${run.id}`);
  }
};

// Logs each thumbnail the ffmpeg task writes back.
exports.onNewThumbnail = async (event) => {
  for (const record of event.Records) {
    console.log(`thumbnail s3://${record.s3.bucket.name}/${keyOf(record)} is ready (${record.s3.object.size} bytes)`);
  }
};
