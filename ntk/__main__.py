"""Command line:  python -m ntk presets | report --preset NAME --out report.html | warm-app

    python -m ntk presets                                   list the paper presets
    python -m ntk report --preset jacot_fig1 --out r.html   run a preset, write an HTML report
    python -m ntk report --preset lee2019 --fast --out r.html
    python -m ntk report --preset nt_cookbook --param n_nets=20 --param steps=2000 --out r.html
    python -m ntk warm-app                                  fill the app's on-disk caches
    python -m ntk warm-app --presets all                    ... and every paper preset (minutes)

Exit codes: 0 success, 1 the computation failed (e.g. training diverged), 2 bad usage (unknown
preset, unwritable output path, bad --param); errors are one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import ast
import inspect
import sys


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (argparse's default prints usage too)
        raise _UsageError(f"{message} (see python -m ntk {self._sub_hint()}--help)")

    def _sub_hint(self):
        parts = self.prog.split()
        return (parts[-1] + " ") if len(parts) > 3 else ""


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m ntk", description="Neural Tangent Kernel presets and reports.")
    sub = p.add_subparsers(dest="command", metavar="{presets,report,warm-app}", parser_class=_Parser)
    sub.add_parser("presets", help="list the paper presets")
    r = sub.add_parser("report", help="run a preset and write a self-contained HTML report")
    r.add_argument("--preset", required=True, help="preset name (see `python -m ntk presets`)")
    r.add_argument("--out", required=True, help="output HTML file")
    r.add_argument("--fast", action="store_true", help="small sizes for a quick look")
    r.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset argument, e.g. --param seeds=3 --param widths=64,256")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    w = sub.add_parser("warm-app", help="compute the app's default views into its on-disk caches "
                                        "(results, compiled programs), so a new server's first "
                                        "visits are answered from disk")
    w.add_argument("--presets", choices=("none", "fast", "all"), default="none",
                   help="also the paper presets: fast sizes, or fast and full size (several "
                        "minutes on 2 cores; then the Presets page opens them instantly)")
    return p


def _cmd_warm_app(presets: str = "none") -> int:
    import logging
    import time

    log = logging.getLogger("streamlit")
    level = log.level
    log.setLevel(logging.ERROR)  # no "no runtime" warnings: this runs outside a server
    t0 = time.perf_counter()

    def progress(done, total, page):
        print(f"  {done}/{total} {page} ({time.perf_counter() - t0:.1f} s)", flush=True)

    print("ntk: computing the app's default views into its on-disk caches", flush=True)
    try:
        from .app import cache, prewarm

        prewarm.warm_caches(progress=progress, presets=presets)
    except Exception as e:  # the app computes on the visit instead
        print(f"ntk: warm-up failed ({type(e).__name__}: {e}); the app computes on the visit",
              file=sys.stderr)
        return 1
    finally:
        log.setLevel(level)
    where = cache.results_dir()
    print(f"ntk: done in {time.perf_counter() - t0:.1f} s"
          + (f"; results in {where}" if where else " (results cache off: NTK_RESULTS_CACHE=0)"))
    return 0


def _parse_params(items, fn) -> dict:
    sig = inspect.signature(fn)
    allowed = [k for k in sig.parameters if k not in ("fast", "progress")]
    out = {}
    for item in items:
        if "=" not in item:
            raise _UsageError(f"--param {item!r} must look like KEY=VALUE.")
        k, v = item.split("=", 1)
        k = k.strip()
        if k not in allowed:
            raise _UsageError(f"preset has no parameter {k!r}; valid: {', '.join(allowed)}.")
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v  # plain strings such as activation=relu
    return out


def _cmd_presets() -> int:
    from . import presets

    infos = presets.list_presets()
    width = max(len(i.name) for i in infos)
    for i in infos:
        print(f"{i.name:<{width}}  {i.title}")
        print(f"{'':<{width}}  {i.summary}")
        print(f"{'':<{width}}  ref: {i.reference}")
    return 0


def _cmd_report(args) -> int:
    from . import presets, report

    if args.preset not in presets.PRESETS:
        raise _UsageError(f"unknown preset {args.preset!r}; choose one of: "
                          f"{', '.join(presets.PRESETS)}.")
    info = presets.PRESETS[args.preset]
    params = _parse_params(args.param, info.fn)
    try:
        out = report.check_writable(args.out)
    except ValueError as e:
        raise _UsageError(str(e)) from None

    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=1, desc=info.name, unit="step", file=sys.stderr, leave=True,
                   dynamic_ncols=True)

    def progress(done, total, desc):
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(desc, refresh=False)
            bar.refresh()

    try:
        result = info.fn(fast=args.fast, progress=progress, **params)
    except (TypeError, ValueError) as e:
        if bar is not None:
            bar.close()
        raise _UsageError(f"preset {info.name}: {e}") from None
    except (RuntimeError, FloatingPointError, MemoryError) as e:
        if bar is not None:
            bar.close()
        print(f"ntk: error: preset {info.name} failed: {e}", file=sys.stderr)
        return 1
    if bar is not None:
        bar.close()
    try:
        path = report.write_report(result, out)
    except ValueError as e:
        raise _UsageError(str(e)) from None
    print(f"wrote {path} ({result.elapsed_s:.1f} s)")
    for k, v, label in result.table():
        print(f"  {k} = {v:.4g}" if isinstance(v, float) else f"  {k} = {v}")
    return 0


def main(argv=None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if args.command == "presets":
            return _cmd_presets()
        if args.command == "warm-app":
            return _cmd_warm_app(args.presets)
        return _cmd_report(args)
    except _UsageError as e:
        print(f"ntk: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ntk: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
