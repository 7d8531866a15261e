"""An OCI image layout of gzip layers for the registry benchmark.

oci_layout.py OUT LAYERS BYTES_PER_LAYER
Each layer is a tar of one file of random (incompressible) bytes, gzipped
at level 1, so a push moves about LAYERS x BYTES_PER_LAYER bytes and a
registry stores the blobs as given. Tagged `bench`.
"""
import gzip, hashlib, io, json, os, sys, tarfile

out, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest

layers, diff_ids = [], []
for n in range(count):
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        body = os.urandom(size)
        info = tarfile.TarInfo(f"data/{n}.bin"); info.size = len(body)
        t.addfile(info, io.BytesIO(body))
    raw = tar.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    compressed = gzip.compress(raw, compresslevel=1, mtime=0)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": put(compressed), "size": len(compressed)})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
    "layers": layers}).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": put(manifest), "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
