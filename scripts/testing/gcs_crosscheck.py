"""Cross-check what GeoInfer wrote to a GCS emulator using Google's official Python client.

    python gcs_crosscheck.py --endpoint http://127.0.0.1:P --bucket B --prefix X
        Lists every object under the prefix (all pages) and prints one JSON document:
        {"objects": [{"name", "size", "crc32c", "crc32c_of_content", "metadata",
                      "content_type"}, ...]}
        crc32c is what the server reports; crc32c_of_content is computed here (google_crc32c)
        over the downloaded bytes, base64 of the 4 big-endian bytes, so a test can compare them.

    python gcs_crosscheck.py --endpoint http://127.0.0.1:P --bucket B --upload FILE --name N
        Uploads FILE as N with the official client's resumable upload (8 MiB chunks) and prints
        {"name", "bytes", "elapsed_s", "mb_per_s", "mib_per_s", ...} as a benchmark baseline.

Uses STORAGE_EMULATOR_HOST=<endpoint>, AnonymousCredentials and project "test".
"""
import argparse
import base64
import json
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:9023")
parser.add_argument("--bucket", required=True)
parser.add_argument("--prefix", default="")
parser.add_argument("--upload", metavar="LOCALFILE")
parser.add_argument("--name", help="object name for --upload")
parser.add_argument("--chunk-size", type=int, default=8 * 1024 * 1024)
args = parser.parse_args()
if args.upload and not args.name:
    parser.error("--upload needs --name")

# Must be set before the client is built: it makes the client talk plain HTTP to the emulator.
os.environ["STORAGE_EMULATOR_HOST"] = args.endpoint

import google_crc32c  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import storage  # noqa: E402

MULTIPART_LIMIT = 8 * 1024 * 1024  # the client's multipart/resumable threshold (_MAX_MULTIPART_SIZE)


def crc32c_b64(data):
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode("ascii")


client = storage.Client(project="test", credentials=AnonymousCredentials(),
                        client_options={"api_endpoint": args.endpoint})
bucket = client.bucket(args.bucket)

if args.upload:
    size = os.path.getsize(args.upload)
    blob = bucket.blob(args.name, chunk_size=args.chunk_size)
    start = time.perf_counter()
    with open(args.upload, "rb") as f:
        # The client picks multipart for known sizes <= 8 MiB; an unknown size (None) forces a
        # resumable session, so every run measures the same protocol.
        blob.upload_from_file(f, size=size if size > MULTIPART_LIMIT else None, checksum="crc32c")
    elapsed = time.perf_counter() - start
    json.dump({
        "name": blob.name,
        "bytes": size,
        "upload_type": "resumable",
        "chunk_size": args.chunk_size,
        "elapsed_s": round(elapsed, 4),
        "mb_per_s": round(size / 1e6 / elapsed, 2) if elapsed > 0 else None,
        "mib_per_s": round(size / 1048576 / elapsed, 2) if elapsed > 0 else None,
        "crc32c": blob.crc32c,
        "generation": blob.generation,
    }, sys.stdout)
    print()
    sys.exit(0)

objects = []
for blob in client.list_blobs(bucket, prefix=args.prefix or None):  # follows nextPageToken
    # checksum=None: download the raw bytes without the client's own validation, so a wrong
    # server-side crc32c shows up as a mismatch here instead of an exception.
    data = blob.download_as_bytes(checksum=None)
    objects.append({
        "name": blob.name,
        "size": blob.size,
        "crc32c": blob.crc32c,
        "crc32c_of_content": crc32c_b64(data),
        "metadata": blob.metadata or {},
        "content_type": blob.content_type,
    })
objects.sort(key=lambda o: o["name"])
json.dump({"objects": objects}, sys.stdout, indent=2, sort_keys=True)
print()
