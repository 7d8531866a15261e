"""A one-layer docker-archive for the benchmarks' images.

docker_archive.py OUT TAG CMD_JSON ENV_JSON FILE=PATH_IN_IMAGE... [LINK=TARGET...]
Files are added as given; `name->target` adds a symlink.
"""
import hashlib, io, json, sys, tarfile

out, tag, cmd, env, entries = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5:]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    for entry in entries:
        if "->" in entry:
            name, target = entry.split("->", 1)
            i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
        else:
            src, name = entry.split("=", 1)
            t.add(src, arcname=name)
layer = buf.getvalue()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": cmd, "Env": env},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
cname = hashlib.sha256(cfg).hexdigest() + ".json"
manifest = json.dumps([{"Config": cname, "RepoTags": [tag], "Layers": ["l/layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for n, b in [(cname, cfg), ("l/layer.tar", layer), ("manifest.json", manifest)]:
        i = tarfile.TarInfo(n); i.size = len(b); t.addfile(i, io.BytesIO(b))
