"""Enumerating a prefix of N objects on the S3 emulator (moto's server on 127.0.0.1).

    python benchmarks/remote_list.py [--objects 10000]

Reports objects per second for add_remote's listing (artstore) against a bare s3fs
find() of the same prefix (the baseline), in the same run.
"""

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from harness import print_table, save_json  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "remote_list.json"))
    args = parser.parse_args()

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": url}
    os.environ.update(env)
    try:
        client = boto3.client("s3", endpoint_url=url)
        client.create_bucket(Bucket="bench")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: client.put_object(Bucket="bench", Key=f"data/{i // 100:03d}/{i:06d}.bin",
                                                      Body=b"x" * 64), range(args.objects)))
        from artstore.remote import filesystem, list_objects

        start = time.perf_counter()
        objects = list_objects("s3://bench/data", args.objects, None)
        ours = time.perf_counter() - start
        assert len(objects) == args.objects
        fs = filesystem("s3")
        start = time.perf_counter()
        found = fs.find("bench/data", detail=True)
        base = time.perf_counter() - start
        assert len(found) == args.objects
    finally:
        server.stop()
    rows = [{"scenario": f"list {args.objects} objects (S3 emulator)", "artstore_s": ours,
             "objects_per_s": args.objects / ours, "baseline": "s3fs find", "baseline_s": base,
             "ratio": ours / base}]
    print_table(rows, ["scenario", "artstore_s", "objects_per_s", "baseline", "baseline_s", "ratio"])
    save_json(args.json, {"rows": rows})


if __name__ == "__main__":
    main()
