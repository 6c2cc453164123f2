#!/usr/bin/env python3
"""Checks a multi-architecture OCI image archive from scripts/oci_image.py.

    tests/oci_check.py ARCHIVE.tar ENTRYPOINT_JSON OUTDIR

Follows index.json to the image index and each platform's manifest, and
checks on the way that every blob's sha256 and size are what its
descriptor says, that each manifest's config names the platform the index
gives it, that the config's rootfs diff_id is the sha256 of the
uncompressed layer, and that the entrypoint is ENTRYPOINT_JSON. Each
platform's /tini-rs is written to OUTDIR/PLATFORM (PLATFORM as Docker
writes it: arm-v7), and one line "PLATFORM PATH" is printed per platform;
the caller checks each binary's architecture and runs it.

Exit status: 0 when every check passes, 1 otherwise (the first failure is
said on stderr), 2 on bad arguments.
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def fail(message):
    print(f"FAIL oci_check: {message}", file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) != 4:
        print("usage: tests/oci_check.py ARCHIVE.tar ENTRYPOINT_JSON OUTDIR", file=sys.stderr)
        return 2
    archive, entrypoint, outdir = argv[1], json.loads(argv[2]), argv[3]
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}

    def blob(desc, media_type):
        if desc.get("mediaType") != media_type:
            fail(f"{desc.get('digest')}: media type {desc.get('mediaType')}, not {media_type}")
        algorithm, _, digest = desc["digest"].partition(":")
        data = files.get(f"blobs/{algorithm}/{digest}")
        if data is None:
            fail(f"no blob {desc['digest']}")
        if algorithm != "sha256" or hashlib.sha256(data).hexdigest() != digest:
            fail(f"blob {desc['digest']} does not have that sha256")
        if len(data) != desc["size"]:
            fail(f"blob {desc['digest']} is {len(data)} bytes, not {desc['size']}")
        return data

    if json.loads(files.get("oci-layout", b"{}")).get("imageLayoutVersion") != "1.0.0":
        fail("no oci-layout 1.0.0")
    top = json.loads(files["index.json"])
    if len(top["manifests"]) != 1:
        fail(f"index.json names {len(top['manifests'])} images, not 1")
    index = json.loads(blob(top["manifests"][0], "application/vnd.oci.image.index.v1+json"))
    seen = set()
    os.makedirs(outdir, exist_ok=True)
    for desc in index["manifests"]:
        platform = desc.get("platform") or fail(f"{desc['digest']} has no platform")
        name = platform["architecture"] + ("-" + platform["variant"] if "variant" in platform else "")
        if platform.get("os") != "linux" or name in seen:
            fail(f"platform {platform} is not linux, or twice in the index")
        seen.add(name)
        manifest = json.loads(blob(desc, "application/vnd.oci.image.manifest.v1+json"))
        config = json.loads(blob(manifest["config"], "application/vnd.oci.image.config.v1+json"))
        for key in ("architecture", "os", "variant"):
            if config.get(key) != platform.get(key):
                fail(f"{name}: the config's {key} is {config.get(key)}, the index says {platform.get(key)}")
        if config["config"].get("Entrypoint") != entrypoint:
            fail(f"{name}: entrypoint {config['config'].get('Entrypoint')}, not {entrypoint}")
        if len(manifest["layers"]) != 1:
            fail(f"{name}: {len(manifest['layers'])} layers, not 1")
        raw = gzip.decompress(blob(manifest["layers"][0], "application/vnd.oci.image.layer.v1.tar+gzip"))
        if config["rootfs"]["diff_ids"] != ["sha256:" + hashlib.sha256(raw).hexdigest()]:
            fail(f"{name}: the rootfs diff_id is not the layer's")
        with tarfile.open(fileobj=io.BytesIO(raw)) as layer:
            names = layer.getnames()
            if names != ["tini-rs"]:
                fail(f"{name}: the layer holds {names}, not just tini-rs")
            member = layer.getmember("tini-rs")
            if member.mode & 0o111 == 0:
                fail(f"{name}: /tini-rs is not executable")
            path = os.path.join(outdir, name)
            with open(path, "wb") as f:
                f.write(layer.extractfile(member).read())
            os.chmod(path, 0o755)
        print(name, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
