#!/usr/bin/env python3
"""Writes a multi-architecture OCI image, with no registry and no builder.

    scripts/oci_image.py KIND DIST OUT.tar

KIND is `tini-rs` (the FROM-scratch image: /tini-rs, ENTRYPOINT
["/tini-rs", "--"]) or `pause` (the same binary as a pod's pause process,
ENTRYPOINT ["/tini-rs", "-P"], as docker/pause/Dockerfile builds it).
DIST is a directory of release files (scripts/release.sh): each
tini-rs-VERSION-linux-PLATFORM-static in it becomes one platform's image.
OUT.tar is an OCI image layout (oci-layout, index.json, blobs/sha256/) as a
tar archive: its index.json is an image index with one manifest per
platform, so `COPY --from` of the image picks the binary of the build's
platform. Every timestamp is SOURCE_DATE_EPOCH (or 0), so the same files
give the same archive.

Exit status: 0 on success, 1 when DIST holds no static release file,
2 on bad arguments.
"""

import datetime
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile

ENTRYPOINTS = {"tini-rs": ["/tini-rs", "--"], "pause": ["/tini-rs", "-P"]}
# Docker's platform names (TARGETARCH[-TARGETVARIANT]) as the release files
# carry them -> OCI's architecture and variant.
STATIC = re.compile(r"^tini-rs-(?P<version>[^-]+)-linux-(?P<platform>[a-z0-9]+(?:-v[0-9]+)?)-static$")


def usage(message):
    print(f"oci_image.py: {message}", file=sys.stderr)
    print("usage: scripts/oci_image.py tini-rs|pause DIST OUT.tar", file=sys.stderr)
    sys.exit(2)


def tar_info(name, size, mode, epoch, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.type = size, mode, epoch, kind
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class Layout:
    """The blobs of an OCI image layout, kept in memory (a few MB)."""

    def __init__(self):
        self.blobs = {}

    def add(self, data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_json(self, value, media_type):
        return self.add(json.dumps(value, sort_keys=True, separators=(",", ":")).encode(), media_type)


def layer(binary, epoch):
    """A layer holding only /tini-rs: (gzipped tar, sha256 of the tar)."""
    raw = io.BytesIO()
    with open(binary, "rb") as f:
        data = f.read()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(tar_info("tini-rs", len(data), 0o755, epoch), io.BytesIO(data))
    tar_bytes = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=epoch) as gz:
        gz.write(tar_bytes)
    return packed.getvalue(), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def main(argv):
    if len(argv) != 4:
        usage("three arguments expected")
    kind, dist, out = argv[1:]
    if kind not in ENTRYPOINTS:
        usage(f"unknown image '{kind}'")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = sorted((m for m in map(STATIC.match, os.listdir(dist)) if m), key=lambda m: m.group("platform"))
    if not found:
        print(f"oci_image.py: no tini-rs-VERSION-linux-PLATFORM-static in {dist}", file=sys.stderr)
        return 1
    layout = Layout()
    manifests = []
    for m in found:
        arch, _, variant = m.group("platform").partition("-")
        platform = {"architecture": arch, "os": "linux"}
        if variant:
            platform["variant"] = variant
        blob, diff_id = layer(os.path.join(dist, m.group(0)), epoch)
        layer_desc = layout.add(blob, "application/vnd.oci.image.layer.v1.tar+gzip")
        config = dict(platform)
        config.update(
            {
                "created": created,
                "config": {"Entrypoint": ENTRYPOINTS[kind]},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": created, "created_by": f"scripts/oci_image.py {kind}"}],
            }
        )
        config_desc = layout.add_json(config, "application/vnd.oci.image.config.v1+json")
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": [layer_desc],
        }
        desc = layout.add_json(manifest, "application/vnd.oci.image.manifest.v1+json")
        desc["platform"] = platform
        manifests.append(desc)
    version = found[0].group("version")
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }
    index_desc = layout.add_json(index, "application/vnd.oci.image.index.v1+json")
    # The layout's own index.json names the image index, tagged with the
    # version (what `skopeo copy oci-archive:OUT.tar:VERSION` asks for).
    index_desc["annotations"] = {"org.opencontainers.image.ref.name": version}
    top = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [index_desc]}
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:

        def add(name, data):
            tar.addfile(tar_info(name, len(data), 0o644, epoch), io.BytesIO(data))

        for d in ("blobs", "blobs/sha256"):
            tar.addfile(tar_info(d, 0, 0o755, epoch, tarfile.DIRTYPE))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps(top, sort_keys=True, separators=(",", ":")).encode())
        for digest in sorted(layout.blobs):
            add("blobs/sha256/" + digest.split(":", 1)[1], layout.blobs[digest])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
