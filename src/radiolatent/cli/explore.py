"""`radiolatent explore`: the browser explorer over a codes table (map, search, labels, retrain)."""

from __future__ import annotations

import argparse
import threading
import webbrowser
from pathlib import Path

from radiolatent.cli import argtypes
from radiolatent.config import DEFAULT_EXPLORE


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explore", help="a local web page: UMAP map, click-to-search, outliers, labels and retraining"
    )
    p.add_argument("--codes", required=True, metavar="PATH", help="codes table (parquet)")
    argtypes.add_settings_arguments(p, "explore", "default", "the explorer's settings", "umap_neighbors=30")
    p.add_argument("--port", type=argtypes.port, default=None, help=f"port (default {DEFAULT_EXPLORE.port})")
    p.add_argument(
        "--host",
        default=None,
        help=f"address to bind (default {DEFAULT_EXPLORE.host}; others need --allow-remote)",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host: anyone who can reach the port can see the data and label",
    )
    p.add_argument(
        "--labels",
        type=argtypes.output_of("jsonl"),
        default=None,
        metavar="PATH",
        help="label store (JSON lines; default CODES_STEM.labels.jsonl beside the codes)",
    )
    p.add_argument(
        "--density",
        default=None,
        metavar="DIR",
        help="fitted density model (`radiolatent density fit`): colour and sort by log-likelihood",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help="model that made the codes, to embed dropped image files (default: the table's own, "
        "if it is a floor or a shipped checkpoint; needed for a model you trained)",
    )
    p.add_argument(
        "--predictions",
        default=None,
        metavar="PATH",
        help="predictions catalogue (`radiolatent predict`): colour the map by prediction, p_<class>, in_domain",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.set_defaults(handler=cmd_explore)


def cmd_explore(args: argparse.Namespace) -> int:
    from radiolatent.explore.server import LOOPBACK_NAMES, bind, check_host, create_app, default_labels_path, serve

    config = argtypes.settings(args, "explore", given={"host": args.host, "port": args.port})
    check_host(config.host, args.allow_remote)
    sock = bind(config.host, config.port)  # before loading: a port in use fails at once
    labels = Path(args.labels) if args.labels else default_labels_path(args.codes)
    print(f"opening {args.codes} (labels: {labels})")
    app = create_app(
        args.codes,
        labels,
        density_dir=args.density,
        model=args.model,
        config=config,
        allowed_hosts=None if args.allow_remote else LOOPBACK_NAMES,
        preload_images=True,
        predictions=args.predictions,
    )
    address = f"http://{_url_host(config.host)}:{config.port}/"
    print(f"radiolatent explorer at {address}  (Ctrl+C to stop)", flush=True)
    if not args.no_browser:
        # after a moment, so the server is listening when the browser asks
        threading.Timer(1.0, webbrowser.open, args=(address,)).start()
    serve(app, sock)
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
