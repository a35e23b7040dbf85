"""The built-in sample tenant: a realistic, reproducible AKS estate written as snapshots.

``write_sample`` writes the snapshot for an as-of date and, with ``months``, the earlier
monthly snapshots of the same estate, so trends, first-seen dates, ageing and "changes
since last month" are meaningful. Everything is derived from the seed and the as-of date
(``numpy.random.default_rng`` streams and a counter-based hash; no clock, no uuid4, no set
ordering), so the same inputs give byte-identical Parquet files and snapshot.json.

How the estate is modelled (all per seed, once):

* subscriptions -> resource groups -> AKS clusters, with owner tags at every level (mixed
  key casing, messy values), Defender governance assignments for some clusters, and some
  clusters owned by nobody;
* image repositories (third-party and per business unit) with a release history; each
  repository draws a pool of real CVE/package pairs from the catalogue, each pair living
  for a range of image versions (introduced, fixed);
* deployments (cluster x repository) that follow new releases at their own cadence, or
  never. A finding is a (cluster, image digest, CVE, package) whose version range holds
  the deployed version; updating an image resolves old findings and brings new ones;
* per cluster a "clean" interval (the team patched everything: no open findings), which
  moves compliance month to month, mostly upwards.

Special cases exist at every scale: exactly one cluster exempt by a policy exemption,
exactly one cluster with no Defender assessment, and a few duplicate finding rows.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import math
import uuid
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from reportgen.collect import sample_catalog as cat
from reportgen.errors import UsageError
from reportgen.snapshot import DATASETS, DatasetInfo, write_snapshot

SCALES = {"small": 12, "medium": 200, "large": 2000}   # clusters
DEFAULT_AS_OF = date(2026, 10, 31)   # fixed so output is reproducible; period = that month
MIN_CLUSTERS = 3
MAX_CLUSTERS = 20_000
MAX_MONTHS = 36

M_MIN = -40            # earliest month of the timeline, relative to the as-of month
BEFORE = -1000         # "since before the timeline"
NEVER = 1_000_000      # "never" (month or version index)
LA_RETENTION_DAYS = 60  # continuous export history kept in Log Analytics (finding_history, assessment_history)
# how much of a platform's CVE catalogue an image carries, and how fast fixable CVEs get fixed per release
POOL_OS, POOL_LANG, FIX_RATE = 1.0, 1.0, 0.08
TENANT_NAMESPACE = uuid.UUID("6f1c3c1e-5b1a-4c43-9f4e-2f8e0a7d3b21")
_US = 1_000_000        # microseconds per second
_DAY = 86_400 * _US
_HOUR = 3_600 * _US


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------

def parse_scale(value: str | int) -> int:
    """``small`` | ``medium`` | ``large`` | N (number of AKS clusters, N >= 3) -> clusters."""
    hint = f"use small, medium, large or a number of clusters from {MIN_CLUSTERS} to {MAX_CLUSTERS}"
    if isinstance(value, bool):
        raise UsageError(f"--scale {value!r}: not a scale", hint=hint)
    if isinstance(value, int):
        n = value
    else:
        text = str(value).strip().lower()
        if text in SCALES:
            return SCALES[text]
        if not text.isdigit():
            raise UsageError(f"--scale {value!r}: not a scale", hint=hint)
        n = int(text)
    if not MIN_CLUSTERS <= n <= MAX_CLUSTERS:
        raise UsageError(f"--scale {value!r}: out of range", hint=hint)
    return n


def generate(clusters: int, seed: int, as_of: date, month_offset: int = 0) -> dict[str, pd.DataFrame]:
    """Every dataset of the sample tenant as it stands ``month_offset`` months before ``as_of``.

    ``month_offset`` 0 is the as-of date itself; k > 0 is the last day of the k-th earlier
    month, on the same timeline (the estate and its findings' lifetimes depend only on the
    seed, the cluster count and ``as_of``).
    """
    _check_seed(seed)
    return _World(parse_scale(clusters), seed, as_of).frames(-month_offset)


def _check_seed(seed: Any) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UsageError(f"--seed {seed!r}: expected a whole number >= 0")


def write_sample(out: Path, scale: str | int = "small", seed: int = 1, as_of: date | None = None,
                 history_dir: Path | None = None, months: int = 0) -> list[Path]:
    """Write the sample snapshot to ``out`` and ``months`` earlier monthly ones to ``history_dir``.

    Returns ``[out, *history]`` with the history oldest first; history snapshots go to
    ``history_dir/<YYYY-MM>/``.
    """
    clusters = parse_scale(scale)
    as_of = as_of or DEFAULT_AS_OF
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    _check_seed(seed)
    if months and history_dir is None:
        raise UsageError("--months needs --history-dir", hint="say where the earlier snapshots go")
    if not 0 <= months <= MAX_MONTHS:
        raise UsageError(f"--months {months}: expected 0 to {MAX_MONTHS}")
    out = Path(out)
    world = _World(clusters, seed, as_of)
    scale_label: str | int = scale.strip().lower() if isinstance(scale, str) and not scale.strip().isdigit() \
        else clusters
    history: list[Path] = []
    for offset in range(months, 0, -1):
        m = -offset
        label = world.month_label(m)
        history.append(world.write(Path(history_dir) / label, m, scale_label))  # type: ignore[arg-type]
    world.write(out, 0, scale_label)
    return [out, *history]


# ------------------------------------------------------------------------------------------------
# Hashing and small helpers (deterministic, vectorised)
# ------------------------------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _u64(x: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(x))
    if arr.dtype == np.uint64:
        return arr
    return arr.astype(np.int64).view(np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _hash(*parts: Any) -> np.ndarray:
    """A 64-bit hash of broadcastable integer arrays (splitmix64 chaining)."""
    h = np.zeros(1, dtype=np.uint64)
    for p in parts:
        h = _mix(h ^ _u64(p))
    return h


def _frac(h: np.ndarray) -> np.ndarray:
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _tag(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _guids(hi: np.ndarray, lo: np.ndarray, prefix: np.ndarray | None = None) -> np.ndarray:
    """Two uint64 arrays -> object array of GUID strings (8-4-4-4-12), each after its ``prefix`` if given."""
    n = len(hi)
    b = np.empty((n, 16), dtype=np.uint8)
    b[:, :8] = hi.astype(">u8").view(np.uint8).reshape(n, 8)
    b[:, 8:] = lo.astype(">u8").view(np.uint8).reshape(n, 8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hx = np.empty((n, 32), dtype=np.uint8)
    hx[:, 0::2] = _HEX[b >> 4]
    hx[:, 1::2] = _HEX[b & 15]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = hx[:, 0:8], hx[:, 8:12], hx[:, 12:16]
    out[:, 19:23], out[:, 24:36] = hx[:, 16:20], hx[:, 20:32]
    text = out.tobytes().decode("ascii")
    if prefix is None:
        return np.array([text[i:i + 36] for i in range(0, 36 * n, 36)], dtype=object)
    return np.array([p + text[i:i + 36] for p, i in zip(prefix.tolist(), range(0, 36 * n, 36))], dtype=object)


def _guid(*parts: Any) -> str:
    return _guids(_hash(*parts, 1), _hash(*parts, 2))[0]


def _df(columns: dict[str, Any]) -> pd.DataFrame:
    """A DataFrame whose text columns stay plain ``object`` (pandas would copy them into Arrow strings)."""
    n = next((len(v) for v in columns.values() if not np.isscalar(v) and not isinstance(v, str)), 0)
    out = {}
    for name, value in columns.items():
        if isinstance(value, pd.Series):
            out[name] = value.reset_index(drop=True)
        elif isinstance(value, str):
            out[name] = pd.Series(np.full(n, value, dtype=object), dtype=object)
        elif np.isscalar(value):
            out[name] = pd.Series(np.full(n, value))
        else:
            arr = np.asarray(value)
            out[name] = pd.Series(arr, dtype=object) if arr.dtype.kind in "OUS" else pd.Series(arr)
    return pd.DataFrame(out)


def _unique_sorted(x: np.ndarray) -> np.ndarray:
    x = np.sort(x)
    if len(x) == 0:
        return x
    keep = np.empty(len(x), dtype=bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _jdump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _choice(rng: np.random.Generator, items: Iterable[tuple[Any, float]]) -> Any:
    items = list(items)
    r = rng.random() * sum(w for _, w in items)
    for value, w in items:
        r -= w
        if r < 0:
            return value
    return items[-1][0]


def _month_end(y: int, m: int) -> date:
    return date(y, m, calendar.monthrange(y, m)[1])


def _add_months(d: date, k: int) -> tuple[int, int]:
    idx = d.year * 12 + d.month - 1 + k
    return idx // 12, idx % 12 + 1


def _us(dt: datetime) -> int:
    return int(dt.replace(tzinfo=timezone.utc).timestamp()) * _US if dt.tzinfo is None \
        else int(dt.timestamp()) * _US


def _ts(us: np.ndarray | int) -> pd.Series | pd.Timestamp:
    """µs since the epoch -> UTC timestamps, to the whole second."""
    if np.isscalar(us):
        return pd.Timestamp(int(us) // _US * _US, unit="us", tz="UTC")
    arr = np.asarray(us, dtype="int64")
    return pd.Series((arr - arr % _US).astype("datetime64[us]")).dt.tz_localize("UTC")


def _messy(value: str, r: float) -> str:
    """How people really type owner tags: case and stray whitespace vary."""
    if r < 0.55:
        return value
    if r < 0.70:
        return value.title()
    if r < 0.78:
        return value.upper()
    if r < 0.90:
        return value + " "
    return "  " + value


def _bump(version: str, r: float) -> str:
    """Next release of a version string (patch bump, sometimes minor)."""
    import re
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        return version + ".1"
    major, minor, patch = (int(g) for g in m.groups())
    new = f"{major}.{minor + 1}.0" if r < 0.25 else f"{major}.{minor}.{patch + 1}"
    return version[:m.start()] + new + version[m.end():]


# ------------------------------------------------------------------------------------------------
# The world: the estate and its timeline, built once per (clusters, seed, as_of)
# ------------------------------------------------------------------------------------------------

@dataclass
class _State:
    """Findings alive at one month's as-of (sorted by key) and per-cluster status."""

    m: int
    d: np.ndarray          # deployment index per finding
    v: np.ndarray          # image version index per finding
    variant: np.ndarray    # catalogue variant per finding
    key: np.ndarray        # int64 finding key (sorted)
    exempt: np.ndarray     # bool: NotApplicable / Exempt
    dep_ver: np.ndarray    # version per deployment
    dep_alive: np.ndarray  # bool per deployment
    status: np.ndarray     # per cluster: "" (absent / not assessed), Healthy, Unhealthy, NotApplicable


class _World:
    def __init__(self, clusters: int, seed: int, as_of: date) -> None:
        self.n = int(clusters)
        self.seed = int(seed)
        self.as_of = as_of
        self._states: dict[int, _State] = {}
        self._months()
        self._catalogue()
        self._subscriptions()
        self._clusters()
        self._roles()
        self._repositories()
        self._deployments()
        self._extras()

    def _rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.n, _tag(name)])

    def _h(self, name: str, *parts: Any) -> np.ndarray:
        return _hash(self.seed, _tag(name), *parts)

    # -- time ------------------------------------------------------------------------------------

    def _months(self) -> None:
        self.anchor_us = _us(datetime(self.as_of.year, self.as_of.month, self.as_of.day, 6, 0, 0))
        ms = np.arange(M_MIN - 1, 1)
        t = np.empty(len(ms), dtype=np.int64)
        for i, m in enumerate(ms):
            if m == 0:
                t[i] = self.anchor_us
            else:
                y, mo = _add_months(self.as_of, int(m))
                e = _month_end(y, mo)
                t[i] = _us(datetime(e.year, e.month, e.day, 6, 0, 0))
        self._t = t

    def t(self, m: int | np.ndarray) -> Any:
        """As-of time (µs since epoch) of month m (0 = as_of, -1 = end of the previous month...)."""
        return self._t[np.asarray(m) - (M_MIN - 1)]

    def month_label(self, m: int) -> str:
        y, mo = _add_months(self.as_of, m)
        return f"{y:04d}-{mo:02d}"

    def _in_month(self, m: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """A time inside month m: between the previous as-of and this one."""
        lo, hi = self.t(m - 1), self.t(m)
        return lo + ((hi - lo) * frac).astype(np.int64)

    # -- catalogue as arrays ---------------------------------------------------------------------

    def _catalogue(self) -> None:
        cves, variants = cat.CVES, cat.VARIANTS
        self.cve_id = np.array([c.id for c in cves], dtype=object)
        self.cve_title = np.array([c.title for c in cves], dtype=object)
        self.cve_sev = np.array([c.severity for c in cves], dtype=object)
        self.cve_cvss = np.array([c.cvss for c in cves], dtype=float)
        self.cve_exploit = np.array([c.exploitable for c in cves], dtype=bool)
        pub_hour = (_frac(_hash(7, np.arange(len(cves)))) * 20).astype(np.int64)
        self.cve_pub = np.array([_us(datetime.fromisoformat(c.published)) for c in cves], dtype=np.int64) \
            + (pub_hour + 2) * _HOUR + 15 * 60 * _US
        self.var_cve = np.array([v.cve for v in variants], dtype=np.int64)
        self.var_pkg = np.array([v.package for v in variants], dtype=object)
        self.var_ver = np.array([v.version for v in variants], dtype=object)
        self.var_fixed = np.array([v.fixed for v in variants], dtype=object)
        self.var_status = np.array([v.fix_status for v in variants], dtype=object)
        self.var_comp = np.array([v.component for v in variants], dtype=np.int64)
        self.var_platform = np.array([v.platform for v in variants], dtype=object)
        self.n_var = len(variants)
        # components: (cve, platform) groups of variants, chosen together
        n_comp = int(self.var_comp.max()) + 1
        first = np.zeros(n_comp, dtype=np.int64)
        first[self.var_comp[::-1]] = np.arange(self.n_var)[::-1]
        self.comp_platform = self.var_platform[first]
        self.comp_sev = self.cve_sev[self.var_cve[first]]
        self.comp_fixable = self.var_status[first] == "FixAvailable"
        self.comp_order = np.argsort(self.var_comp, kind="stable")        # variants grouped by component
        self.comp_count = np.bincount(self.var_comp, minlength=n_comp)
        self.comp_first = np.concatenate([[0], np.cumsum(self.comp_count)[:-1]]).astype(np.int64)

    # -- subscriptions ---------------------------------------------------------------------------

    def _subscriptions(self) -> None:
        rng = self._rng("subscriptions")
        n_subs = max(min(3, self.n), round(3 * (self.n / 12) ** 0.4))
        self.tenant_id = str(uuid.uuid5(TENANT_NAMESPACE, f"{cat.ORG}-tenant-{self.seed}"))
        region_items = [(name, w) for name, _, w in cat.REGIONS]
        self.region_code = {name: code for name, code, _ in cat.REGIONS}
        subs = []
        for i in range(n_subs):
            unit, env = cat.SUBSCRIPTIONS[i % len(cat.SUBSCRIPTIONS)]
            name = f"{cat.ORG}-{env}-{unit}"
            if i >= len(cat.SUBSCRIPTIONS):
                name += f"-{i // len(cat.SUBSCRIPTIONS) + 1:02d}"
            sid = str(uuid.uuid5(TENANT_NAMESPACE, f"{self.seed}/{name}"))
            primary = _choice(rng, region_items)
            secondary = cat.PAIRED_REGION[primary] if env in ("prod", "shared") and rng.random() < 0.6 else primary
            owner_p = {"prod": 0.75, "nonprod": 0.45, "shared": 1.0, "sandbox": 0.0}[env]
            has_owner = rng.random() < owner_p and i != 2
            owner_key = _choice(rng, [("owner", 0.5), ("Owner", 0.35), ("OWNER", 0.15)])
            unit_def = cat.UNITS[unit]
            tags = {"businessunit": unit, "costcenter": unit_def.costcenter, "environment": env}
            if has_owner:
                tags[owner_key] = _messy(unit_def.owner, rng.random())
            if rng.random() < 0.5:
                tags["billing-contact"] = f"finops@{cat.EMAIL_DOMAIN}"
            subs.append({"name": name, "id": sid, "unit": unit, "env": env, "regions": (primary, secondary),
                         "tags": tags, "has_owner": has_owner})
        self.subs = subs

    # -- clusters --------------------------------------------------------------------------------

    def _clusters(self) -> None:
        rng = self._rng("clusters")
        n, subs = self.n, self.subs
        w = np.array([cat.SUBSCRIPTION_WEIGHT[s["env"]] for s in subs])
        sub_of = np.concatenate([np.arange(min(n, len(subs))),
                                 rng.choice(len(subs), size=max(0, n - len(subs)), p=w / w.sum())])
        rows = []
        for i in range(n):
            s = subs[int(sub_of[i])]
            unit = cat.UNITS[s["unit"]]
            app = unit.apps[0] if rng.random() < 0.55 else unit.apps[int(rng.integers(len(unit.apps)))]
            env = _choice(rng, cat.ENVIRONMENTS[s["env"]])
            region = s["regions"][0] if rng.random() < 0.7 else s["regions"][1]
            rows.append((int(sub_of[i]), app, env, region, float(rng.random())))
        order = sorted(range(n), key=lambda i: (rows[i][0], rows[i][1], rows[i][2], rows[i][3], i))
        counters: dict[tuple[str, str, str], int] = {}
        rg_style: dict[tuple[int, str], str] = {}
        self.cl_sub = np.zeros(n, dtype=np.int64)
        self.cl_name, self.cl_rg, self.cl_region, self.cl_app, self.cl_env = [], [], [], [], []
        self.cl_unit, self.cl_id = [], []
        for j, i in enumerate(order):
            sub_i, app, env, region, r1 = rows[i]
            code = self.region_code[region]
            k = counters[(app, env, code)] = counters.get((app, env, code), 0) + 1
            name = f"aks-{app}-{env}-{code}-{k:02d}"
            rg = f"rg-{app}-{env}-{code}"
            style = rg_style.setdefault((sub_i, rg), "upper" if r1 < 0.18 else "lower")
            rg_name = f"RG-{app.title()}-{env.title()}-{code.upper()}" if style == "upper" else rg
            self.cl_sub[j] = sub_i
            self.cl_name.append(name)
            self.cl_rg.append(rg_name)
            self.cl_region.append(region)
            self.cl_app.append(app)
            self.cl_env.append(env)
            self.cl_unit.append(subs[sub_i]["unit"])
            self.cl_id.append(f"/subscriptions/{subs[sub_i]['id']}/resourceGroups/{rg_name}"
                              f"/providers/Microsoft.ContainerService/managedClusters/{name}")
        self.cl_id_arr = np.array(self.cl_id, dtype=object)
        # the forms of the cluster id other datasets use (Azure is not consistent about case)
        h = _frac(self._h("id-case", np.arange(n)))
        h2 = _frac(self._h("id-case-2", np.arange(n)))
        self.cl_assess_rid = np.where(h < 0.3, np.char.lower(self.cl_id_arr.astype(str)).astype(object),
                                      self.cl_id_arr)
        self.cl_find_rid = np.where(h2 < 0.2, np.char.lower(self.cl_id_arr.astype(str)).astype(object),
                                    self.cl_id_arr)
        self.cl_lower = np.char.lower(self.cl_id_arr.astype(str)).astype(object)
        self.cl_assess_id = np.array([f"{r}/providers/Microsoft.Security/assessments/{cat.ASSESSMENT_KEY}"
                                      for r in self.cl_assess_rid], dtype=object)
        self.cl_sub_id = np.array([subs[s]["id"] for s in self.cl_sub], dtype=object)
        self.cl_rg_lower = np.array([r.lower() for r in self.cl_rg], dtype=object)

    # -- roles: exempt, unassessed, governance, unowned, clean intervals, creation -------------------

    def _roles(self) -> None:
        rng = self._rng("roles")
        n = self.n
        order = [int(i) for i in rng.permutation(n)]
        taken: list[int] = []

        def pick(pred, fallback_any=True) -> int | None:
            for i in order:
                if i not in taken and pred(i):
                    taken.append(i)
                    return i
            if fallback_any:
                for i in order:
                    if i not in taken:
                        taken.append(i)
                        return i
            return None

        per_sub = np.bincount(self.cl_sub, minlength=len(self.subs))
        no_owner_sub = 2 if len(self.subs) > 2 else len(self.subs) - 1
        self.exempt = pick(lambda i: self.subs[self.cl_sub[i]]["env"] != "prod")
        self.unowned = pick(lambda i: self.cl_sub[i] == no_owner_sub)
        self.unassessed = pick(lambda i: per_sub[self.cl_sub[i]] >= 2, fallback_any=False)
        if self.unassessed is None:
            self.unassessed = pick(lambda i: True)
        if self.unassessed is None:   # 3 clusters, all taken: the unowned one is also unassessed
            self.unassessed = self.unowned
            self.unowned = None
        self.gov_forced = pick(lambda i: True, fallback_any=False)
        special = {x for x in (self.exempt, self.unowned, self.unassessed, self.gov_forced) if x is not None}

        # creation and first Defender evaluation (µs)
        created_m = np.full(n, BEFORE, dtype=np.int64)
        normal = [i for i in order if i not in special]
        n_new = round(0.10 * n)
        for i in normal[:n_new]:
            created_m[i] = int(rng.integers(-14, 0))
        f1 = _frac(self._h("created", np.arange(n)))
        f2 = _frac(self._h("assessed", np.arange(n)))
        pre = created_m == BEFORE
        created = np.where(pre, self.anchor_us - ((1300 + f1 * 900) * _DAY).astype(np.int64),
                           self._in_month(np.where(pre, 0, created_m), f1 * 0.8))
        assessed = np.where(pre, self.anchor_us - ((900 + f2 * 150) * _DAY).astype(np.int64),
                            created + ((0.5 + f2 * 2.5) * _DAY).astype(np.int64))
        assessed[self.unassessed] = np.iinfo(np.int64).max
        self.created_m, self.created_us, self.assessed_us = created_m, created, assessed

        # clean intervals [start, end): the cluster has no open findings (its team patched everything)
        clean_start = np.full(n, NEVER, dtype=np.int64)
        clean_end = np.full(n, NEVER, dtype=np.int64)
        rest = normal[n_new:] + normal[:n_new]   # clusters created recently are rarely the clean ones
        n_always, n_becomes, n_regress = round(0.15 * n), round(0.22 * n), round(0.04 * n)
        for i in rest[:n_always]:
            clean_start[i] = BEFORE
        idx = n_always
        spread = rng.permutation(n_becomes)   # spread over the last 8 months so every month can move
        for j, i in enumerate(rest[idx:idx + n_becomes]):
            clean_start[i] = -7 + int((spread[j] + rng.random()) * 8 / max(n_becomes, 1))
        idx += n_becomes
        for i in rest[idx:idx + n_regress]:
            clean_start[i], clean_end[i] = BEFORE, int(rng.integers(-7, 0))
        self.clean_start, self.clean_end = clean_start, clean_end

        # owners: tags on cluster / resource group / subscription; Defender governance for some
        self.cl_tags: list[dict] = []
        rg_owner: dict[tuple[int, str], str | None] = {}
        for i in range(n):
            unit = cat.UNITS[self.cl_unit[i]]
            r = rng.random(6)
            tags = {"app": self.cl_app[i], "environment": self.cl_env[i], "costcenter": unit.costcenter}
            if r[0] < 0.7:
                tags["managed-by"] = "terraform"
            if self.cl_env[i] == "prod" and r[1] < 0.5:
                tags["criticality"] = "high"
            if r[2] < 0.45 and i != self.unowned:
                key = _choice(rng, [("owner", 0.6), ("Owner", 0.3), ("OWNER", 0.1)])
                value = unit.owner if r[3] < 0.8 else unit.champion
                tags[key] = _messy(value, r[4])
            self.cl_tags.append(tags)
            rk = (int(self.cl_sub[i]), self.cl_rg[i])
            if rk not in rg_owner:
                rg_owner[rk] = _messy(unit.owner, r[5]) if rng.random() < 0.4 else None
            if i == self.unowned:
                rg_owner[rk] = None
        self.rg_owner = rg_owner
        self.rg_owner_key = {k: _choice(rng, [("owner", 0.6), ("Owner", 0.3), ("OWNER", 0.1)]) for k in rg_owner}

        gov = np.zeros(n, dtype=bool)
        cand = [i for i in normal if clean_start[i] != BEFORE]
        for i in cand[: max(0, round(0.15 * n) - 1)]:
            gov[i] = True
        if self.gov_forced is not None:
            gov[self.gov_forced] = True
        self.gov = gov
        fg = _frac(self._h("gov", np.arange(n)))
        fg2 = _frac(self._h("gov-2", np.arange(n)))
        frames = np.array([14, 30, 30, 90])
        self.gov_created = self.anchor_us - ((10 + fg * 230) * _DAY).astype(np.int64)
        self.gov_days = frames[(fg2 * 4).astype(int) % 4]
        if self.gov_forced is not None:
            self.gov_created[self.gov_forced] = self.anchor_us - 120 * _DAY
            self.gov_days[self.gov_forced] = 30
        self.gov_due = self.gov_created + self.gov_days * _DAY
        self.gov_grace = _frac(self._h("grace", np.arange(n))) < 0.1

    # -- image repositories ----------------------------------------------------------------------

    def _repositories(self) -> None:
        self.repos: list[dict] = []
        self._repo_index: dict[tuple[str, str], int] = {}
        for tp in cat.THIRD_PARTY:
            self._add_repo(tp.registry, tp.repository, tp.os, tp.languages, tp.os_share, tp.version,
                           third_party=tp)

    def _add_repo(self, registry: str, repository: str, os_: str, langs: tuple[str, ...], os_share: float,
                  version: str, third_party: cat.ThirdPartyImage | None = None, profile: str = "",
                  unit: str = "", service: str = "") -> int:
        key = (registry, repository)
        if key in self._repo_index:
            return self._repo_index[key]
        r = len(self.repos)
        rng = self._rng(f"repo/{registry}/{repository}")
        # release history: v0 long ago, then releases every ~1-4 months (legacy: rarely)
        gap = 6.0 if profile == "java-legacy" else (1.6 if third_party else 2.4)
        months = [BEFORE]
        m = -52 + int(rng.integers(0, 10))
        while True:
            m += 1 + int(rng.geometric(1 / gap))
            if m > 0:
                break
            months.append(m)
        versions = [version]
        for _ in months[1:]:
            versions.append(_bump(versions[-1], float(rng.random())))
        self.repos.append({"registry": registry, "repository": repository, "os": os_, "langs": langs,
                           "os_share": os_share, "release": months, "versions": versions,
                           "third_party": third_party, "profile": profile, "unit": unit, "service": service,
                           "rng_tag": f"pool/{registry}/{repository}"})
        self._repo_index[key] = r
        return r

    def _internal_repo(self, unit: cat.Unit, service: str, profile: str) -> int:
        key = (unit.registry, f"{unit.name}/{service}")
        if key in self._repo_index:
            return self._repo_index[key]
        rng = self._rng(f"repo-os/{unit.name}/{service}")
        oses, langs = cat.PROFILES[profile]
        os_ = _choice(rng, oses)
        distroless = profile in ("go", "dotnet") and os_.startswith("debian") and rng.random() < 0.6
        base = f"{int(rng.integers(1, 4))}.{int(rng.integers(0, 30))}.{int(rng.integers(0, 12))}"
        return self._add_repo(unit.registry, f"{unit.name}/{service}", os_, langs, 0.2 if distroless else 1.0,
                              base, profile=profile, unit=unit.name, service=service)

    def _pools(self) -> None:
        """Per repository: the CVE/package pairs its images carry and for which versions."""
        sev_w = {"Critical": 0.3, "High": 0.85, "Medium": 0.8, "Low": 1.4}
        comp_w = np.array([sev_w[s] for s in self.comp_sev]) * np.where(self.comp_fixable, 1.0, 0.7)
        plat_of_comp = self.comp_platform
        rc_repo, rc_var, rc_a, rc_b, rc_det = [], [], [], [], []
        self.rel = np.full((len(self.repos), max(len(r["release"]) for r in self.repos)), NEVER, dtype=np.int64)
        for r, repo in enumerate(self.repos):
            self.rel[r, :len(repo["release"])] = repo["release"]
            rng = self._rng(repo["rng_tag"])
            n_ver = len(repo["release"])
            plats = [repo["os"], *repo["langs"]]
            is_os = plat_of_comp == repo["os"]
            in_plat = np.isin(plat_of_comp, plats)
            p = np.minimum(np.where(is_os, POOL_OS * repo["os_share"], POOL_LANG) * comp_w, 1.0)
            chosen = np.flatnonzero(in_plat & (rng.random(len(p)) < p))
            k = len(chosen)
            intro = np.where(rng.random(k) < 0.62, 0, rng.integers(0, max(n_ver, 1), size=k))
            life = 1 + rng.geometric(FIX_RATE, size=k)
            fix = np.where(self.comp_fixable[chosen], intro + life, NEVER)
            late = rng.random(k) < 0.12
            detect = np.where(late, rng.integers(-12, 1, size=k), BEFORE)
            counts = self.comp_count[chosen]
            offs = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            rc_var.append(self.comp_order[np.repeat(self.comp_first[chosen], counts) + offs])
            rc_repo.append(np.full(len(offs), r))
            rc_a.append(np.repeat(intro, counts))
            rc_b.append(np.repeat(fix, counts))
            rc_det.append(np.repeat(detect, counts))
        cat_ = lambda xs: np.concatenate(xs).astype(np.int64) if xs else np.zeros(0, dtype=np.int64)  # noqa: E731
        repo_arr, var_arr = cat_(rc_repo), cat_(rc_var)
        order = np.lexsort((var_arr, repo_arr))
        self.rc_repo, self.rc_var = repo_arr[order], var_arr[order]
        self.rc_a, self.rc_b, self.rc_det = cat_(rc_a)[order], cat_(rc_b)[order], cat_(rc_det)[order]
        counts = np.bincount(self.rc_repo, minlength=len(self.repos))
        self.rc_count = counts
        self.rc_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        # per (repo, version): digest and tags
        self.rv_start = np.concatenate([[0], np.cumsum([len(r["release"]) for r in self.repos])[:-1]]).astype(
            np.int64)
        digests, tags = [], []
        for repo in self.repos:
            for vi, ver in enumerate(repo["versions"]):
                src = f"{self.seed}|{repo['registry']}/{repo['repository']}|{vi}|{ver}".encode()
                digests.append("sha256:" + hashlib.sha256(src).hexdigest())
                tags.append(_jdump([ver]))
        self.rv_digest = np.array(digests, dtype=object)
        self.rv_tags = np.array(tags, dtype=object)
        self.repo_registry = np.array([r["registry"] for r in self.repos], dtype=object)
        self.repo_name = np.array([r["repository"] for r in self.repos], dtype=object)
        self.repo_osver = np.array([cat.OS_VERSIONS[r["os"]] for r in self.repos], dtype=object)
        self.vmax = self.rel.shape[1]

    # -- deployments -----------------------------------------------------------------------------

    def _deployments(self) -> None:
        rng = self._rng("deployments")
        n = self.n
        mean = float(np.clip(15 + 5 * math.log2(max(n, 1) / 12), 15, 24))   # images per cluster
        unit_services: dict[str, list[tuple[str, str]]] = {u: list(d.services) for u, d in cat.UNITS.items()}
        tp_workloads = {tp.repository: _jdump([{"container": tp.container, "kind": tp.kind, "name": tp.workload,
                                                "namespace": tp.namespace}]) for tp in cat.THIRD_PARTY}
        repo_workloads: dict[int, str] = {}
        dep_cluster, dep_repo, dep_wl = [], [], []
        for c in range(n):
            unit = cat.UNITS[self.cl_unit[c]]
            target = int(np.clip(rng.poisson(mean), 4, 40))
            isolated = c == self.exempt    # the exempt cluster is a small, isolated batch cluster
            if isolated:
                target = 5
            chosen: list[int] = []
            wls: list[str] = []
            for tp in cat.THIRD_PARTY:
                if (tp.units and unit.name not in tp.units) or (isolated and tp.namespace != "kube-system"):
                    continue
                if rng.random() < tp.share:
                    chosen.append(self._repo_index[(tp.registry, tp.repository)])
                    wls.append(tp_workloads[tp.repository])
            need = max(2, target - len(chosen))
            services = unit_services[unit.name]
            while len(services) < need:
                k = len(services) - len(unit.services)
                suffix = cat.SERVICE_SUFFIXES[k % len(cat.SERVICE_SUFFIXES)]
                app = unit.apps[(k // len(cat.SERVICE_SUFFIXES)) % len(unit.apps)]
                profile = unit.services[k % len(unit.services)][1]
                if profile == "toolbox":
                    profile = "go"
                services.append((f"{app}-{suffix}", profile))
            base_n = len(unit.services)
            w = np.array([3.0 if j < base_n else 1.0 for j in range(len(services))])
            picks = rng.choice(len(services), size=min(need, len(services)), replace=False, p=w / w.sum())
            for j in sorted(int(x) for x in picks):
                svc, profile = services[j]
                if profile == "toolbox" and rng.random() < 0.6:
                    continue
                r = self._internal_repo(unit, svc, profile)
                if r not in repo_workloads:   # a service runs the same way in every cluster
                    repo_workloads[r] = self._workloads(self._rng(f"workloads/{unit.name}/{svc}"), unit, svc)
                chosen.append(r)
                wls.append(repo_workloads[r])
            for r, wl in zip(chosen, wls):
                dep_cluster.append(c)
                dep_repo.append(r)
                dep_wl.append(wl)
        self._pools()
        nd = len(dep_cluster)
        self.dep_cluster = np.array(dep_cluster, dtype=np.int64)
        self.dep_repo = np.array(dep_repo, dtype=np.int64)
        self.dep_wl = np.array(dep_wl, dtype=object)
        r = rng.random((nd, 6))
        # cadence: 0 = pinned (never updated), else update every k months (with a lag)
        cls = np.where(r[:, 0] < 0.25, 0, np.where(r[:, 0] < 0.50, 1, 2))
        k = np.where(cls == 1, 1, np.array([2, 3, 4, 6])[(r[:, 1] * 4).astype(int)])
        k = np.where(cls == 0, 0, k)
        self.dep_k = k
        self.dep_phase = (r[:, 2] * np.maximum(k, 1)).astype(np.int64)
        self.dep_lag = np.where(r[:, 3] < 0.5, 0, 1)
        # pinned deployments run a version released at least 6 months ago
        nver_old = (self.rel[self.dep_repo] <= -6).sum(axis=1)
        self.dep_pinned = np.minimum((r[:, 4] * nver_old).astype(np.int64), np.maximum(nver_old - 1, 0))
        # lifetime: start with the cluster, some images added later, a few removed
        start = np.maximum(self.created_m[self.dep_cluster], BEFORE)
        late = r[:, 5] < 0.10
        start = np.where(late, np.maximum(start, (_frac(self._h("dep-start", np.arange(nd))) * 15).astype(
            np.int64) - 14), start)
        fe = _frac(self._h("dep-end", np.arange(nd)))
        end = np.where(fe < 0.04, -14 + (fe / 0.04 * 14).astype(np.int64), NEVER)
        end = np.where(end <= start, NEVER, end)
        self.dep_start, self.dep_end = start, end

    def _workloads(self, rng: np.random.Generator, unit: cat.Unit, service: str) -> str:
        batch = any(service.endswith(s) for s in ("-batch", "-job", "-runner", "-export", "migrator"))
        kind = "CronJob" if batch else ("StatefulSet" if rng.random() < 0.06 else "Deployment")
        namespace = unit.name if rng.random() < 0.6 else service.split("-")[0]
        container = service if rng.random() < 0.75 else _choice(rng, [("app", 1), ("main", 1), ("server", 1)])
        wl = [{"container": container, "kind": kind, "name": service, "namespace": namespace}]
        if not batch and rng.random() < 0.15:
            wl.append({"container": "migrate", "kind": "Job", "name": f"{service}-db-migrate", "namespace": namespace})
        if not batch and rng.random() < 0.1:
            wl.append({"container": container, "kind": "Deployment", "name": f"{service}-canary",
                       "namespace": namespace})
        return _jdump(wl)

    # -- registries, extra resource groups, exemptions ---------------------------------------------

    def _extras(self) -> None:
        subs = self.subs
        by_unit_env = {(s["unit"], s["env"]): i for i, s in enumerate(subs)}
        shared = by_unit_env.get(("platform", "shared"), 0)
        self.registries = []
        for host in sorted({r["registry"] for r in self.repos if r["registry"].endswith(".azurecr.io")}):
            acr = host.split(".")[0]
            owner_unit = next((u.name for u in cat.UNITS.values() if u.registry == host and host !=
                               "contosoacr.azurecr.io"), "platform")
            si = by_unit_env.get((owner_unit, "prod"), shared)
            code = self.region_code[subs[si]["regions"][0]]
            rg = f"rg-registry-{code}"
            rid = (f"/subscriptions/{subs[si]['id']}/resourceGroups/{rg}/providers/"
                   f"Microsoft.ContainerRegistry/registries/{acr}")
            self.registries.append({"sub": si, "rg": rg, "id": rid, "name": acr})
        code0 = self.region_code[subs[0]["regions"][0]]
        self.legacy_rg = (0, f"rg-legacy-aks-{code0}")
        a = self.anchor_us
        ex = []

        def assignment(si: int) -> str:
            return f"/subscriptions/{subs[si]['id']}/providers/Microsoft.Authorization/policyAssignments/" \
                   f"{cat.ASSIGNMENT_NAME}"

        x = self.exempt
        cat_, disp, desc = cat.EXEMPT_REASONS[0]
        ex.append({"scope": self.cl_id[x], "sub": int(self.cl_sub[x]), "rg": self.cl_rg_lower[x],
                   "name": f"exempt-{self.cl_name[x]}-running-images", "refs": [cat.POLICY_REFERENCE_ID],
                   "category": cat_, "display": f"{disp} ({self.cl_name[x]})", "desc": desc,
                   "expires": a + 21 * _DAY + 18 * _HOUR, "created": BEFORE, "policy": "main"})
        sandbox = [i for i, s in enumerate(subs) if s["env"] == "sandbox"] or \
                  [i for i, s in enumerate(subs) if s["env"] == "nonprod"] or [len(subs) - 1]
        si = sandbox[-1]
        ex.append({"scope": f"/subscriptions/{subs[si]['id']}", "sub": si, "rg": "",
                   "name": f"waiver-defender-profile-{subs[si]['name']}",
                   "refs": [cat.OTHER_POLICIES[cat.DEFENDER_PROFILE_POLICY][1]], "category": "Waiver",
                   "display": f"Defender profile managed outside AKS in {subs[si]['name']}",
                   "desc": "The Defender sensor is deployed by the platform Helm pipeline instead of the AKS "
                           "security profile; the profile policy is waived for this subscription.",
                   "expires": None, "created": a - 500 * _DAY, "policy": "defender"})
        reg = self.registries[0]
        ex.append({"scope": reg["id"], "sub": reg["sub"], "rg": reg["rg"], "name": f"waiver-{reg['name']}-base-images",
                   "refs": [cat.OTHER_POLICIES[cat.REGISTRY_POLICY][1]], "category": "Waiver",
                   "display": f"Registry {reg['name']}: archived base images",
                   "desc": "Registry keeps archived base images for rollback; purge scheduled (CHG-10422).",
                   "expires": a + 120 * _DAY, "created": a - 200 * _DAY, "policy": "registry"})
        lsi, lrg = self.legacy_rg
        ex.append({"scope": f"/subscriptions/{subs[lsi]['id']}/resourceGroups/{lrg}", "sub": lsi, "rg": lrg,
                   "name": "waiver-legacy-aks-decommission", "refs": [cat.POLICY_REFERENCE_ID], "category": "Waiver",
                   "display": "Legacy AKS platform pending decommission",
                   "desc": "Clusters in this resource group are being migrated to the new platform (PRJ-118).",
                   "expires": a - 45 * _DAY, "created": a - 400 * _DAY, "policy": "main"})
        normal = [i for i in range(self.n) if i not in (self.exempt, self.unassessed)]
        self.addon_exempt = normal[len(normal) // 2] if normal else None
        if self.addon_exempt is not None:
            c = self.addon_exempt
            ex.append({"scope": self.cl_id[c], "sub": int(self.cl_sub[c]), "rg": self.cl_rg_lower[c],
                       "name": f"mitigated-{self.cl_name[c]}-policy-addon",
                       "refs": [cat.OTHER_POLICIES[cat.POLICY_ADDON_POLICY][1]], "category": "Mitigated",
                       "display": f"Gatekeeper installed manually on {self.cl_name[c]}",
                       "desc": "OPA Gatekeeper runs as a self-managed release while the add-on is evaluated.",
                       "expires": a - 10 * _DAY, "created": a - 300 * _DAY, "policy": "addon"})
        rng = self._rng("exemptions")
        for si in range(3, len(subs)):
            if rng.random() >= 0.3:
                continue
            code = self.region_code[subs[si]["regions"][0]]
            choice = int(rng.integers(0, 3))
            expires = [None, a + int(rng.integers(5, 200)) * _DAY, a - int(rng.integers(5, 200)) * _DAY][choice]
            app = cat.UNITS[subs[si]["unit"]].apps[0]
            ex.append({"scope": f"/subscriptions/{subs[si]['id']}/resourceGroups/rg-{app}-shared-{code}", "sub": si,
                       "rg": f"rg-{app}-shared-{code}", "name": f"waiver-policy-addon-{app}-{si:02d}",
                       "refs": [cat.OTHER_POLICIES[cat.POLICY_ADDON_POLICY][1]],
                       "category": "Waiver" if rng.random() < 0.6 else "Mitigated",
                       "display": f"Azure Policy add-on rollout for {subs[si]['name']}",
                       "desc": "Add-on rollout is staged per subscription; tracked in the platform backlog.",
                       "expires": expires, "created": a - int(rng.integers(30, 700)) * _DAY, "policy": "addon",
                       "extra": True})
        for e in ex:
            e["assignment"] = assignment(e["sub"])
        self.exemptions = ex

    # -- one month -------------------------------------------------------------------------------

    def _version(self, m: int) -> np.ndarray:
        k = self.dep_k
        kk = np.maximum(k, 1)
        u = m - np.mod(m - self.dep_phase, kk) - self.dep_lag
        followed = (self.rel[self.dep_repo] <= u[:, None]).sum(axis=1) - 1
        return np.where(k == 0, self.dep_pinned, np.maximum(followed, 0)).astype(np.int64)

    def clean(self, m: int | np.ndarray) -> np.ndarray:
        m = np.asarray(m)
        return (self.clean_start <= m) & (m < self.clean_end)

    def state(self, m: int) -> _State:
        if m in self._states:
            return self._states[m]
        tm = self.t(m)
        alive_c = self.created_us <= tm
        assessed_c = alive_c & (self.assessed_us <= tm)
        clean_c = self.clean(m)
        dep_alive = (self.dep_start <= m) & (m < self.dep_end) & alive_c[self.dep_cluster]
        dep_ver = self._version(m)
        emit = dep_alive & assessed_c[self.dep_cluster] & ~clean_c[self.dep_cluster]
        d_idx = np.flatnonzero(emit)
        repo = self.dep_repo[d_idx]
        counts = self.rc_count[repo]
        total = int(counts.sum())
        rows_d = np.repeat(d_idx, counts)
        offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        cand = np.repeat(self.rc_start[repo], counts) + offs
        v = dep_ver[rows_d]
        variant = self.rc_var[cand]
        ok = (self.rc_a[cand] <= v) & (v < self.rc_b[cand]) & (self.rc_det[cand] <= m) \
            & (self.cve_pub[self.var_cve[variant]] <= tm - 2 * _DAY)
        rows_d, v, variant = rows_d[ok], v[ok], variant[ok]
        key = self._key(rows_d, v, variant)
        exempt = self._exempt(rows_d, variant)
        status = np.full(self.n, "", dtype=object)
        status[assessed_c] = "Healthy"
        open_c = np.bincount(self.dep_cluster[rows_d[~exempt]], minlength=self.n) > 0
        status[assessed_c & open_c] = "Unhealthy"
        if assessed_c[self.exempt]:
            status[self.exempt] = "NotApplicable"
        st = _State(m, rows_d, v, variant, key, exempt, dep_ver, dep_alive, status)
        if len(self._states) > 8:
            self._states.pop(min(self._states))
        self._states[m] = st
        return st

    def _key(self, d: np.ndarray, v: np.ndarray, variant: np.ndarray) -> np.ndarray:
        return (d.astype(np.int64) * self.vmax + v) * self.n_var + variant

    def _unkey(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        variant = key % self.n_var
        rest = key // self.n_var
        return rest // self.vmax, rest % self.vmax, variant

    def _exempt(self, d: np.ndarray, variant: np.ndarray) -> np.ndarray:
        c = self.dep_cluster[d]
        per_cve = _frac(self._h("cve-exempt", c, self.var_cve[variant])) < 0.025
        return per_cve | (c == self.exempt)

    # -- transition times (consistent between findings, clusters and history) ----------------------

    def _cluster_flip(self, c: np.ndarray, m: int) -> np.ndarray:
        tm, tp = self.t(m), self.t(m - 1)
        clean_flip = self.clean(m)[c] != self.clean(m - 1)[c]
        assessed_flip = (self.assessed_us[c] > tp) & (self.assessed_us[c] <= tm)
        return clean_flip | assessed_flip

    def _cluster_time(self, c: np.ndarray, m: int) -> np.ndarray:
        tm, tp = self.t(m), self.t(m - 1)
        base = self._in_month(np.full(len(c), m), _frac(self._h("cluster-flip", c, m)))
        assessed_now = (self.assessed_us[c] > tp) & (self.assessed_us[c] <= tm)
        return np.where(assessed_now, self.assessed_us[c], base)

    def _finding_time(self, key: np.ndarray, m: int, prev: _State, cur: _State) -> np.ndarray:
        """When a finding's state changed during month m."""
        d, _, _ = self._unkey(key)
        c = self.dep_cluster[d]
        t_c = self._cluster_time(c, m)
        t_d = self._in_month(np.full(len(d), m), _frac(self._h("dep-flip", d, m)))
        t_f = self._in_month(np.full(len(d), m), _frac(self._h("finding-flip", key, m)))
        dep_flip = (prev.dep_ver[d] != cur.dep_ver[d]) | (prev.dep_alive[d] != cur.dep_alive[d])
        return np.where(self._cluster_flip(c, m), t_c, np.where(dep_flip, t_d, t_f))

    def _status_change(self, c: np.ndarray, m: int) -> np.ndarray:
        """Last change of the cluster's assessment status at or before month m (clean model)."""
        out = self.assessed_us[c].copy()
        for attr in ("clean_start", "clean_end"):
            mm = getattr(self, attr)[c]
            ok = (mm > M_MIN) & (mm <= m)
            if ok.any():
                t = np.zeros(len(c), dtype=np.int64)
                for month in np.unique(mm[ok]):
                    sel = ok & (mm == month)
                    t[sel] = self._cluster_time(c[sel], int(month))
                out = np.where(ok & (t > out), t, out)
        return out

    # -- frames ----------------------------------------------------------------------------------

    def frames(self, m: int) -> dict[str, pd.DataFrame]:
        if not M_MIN + 4 <= m <= 0:
            raise UsageError(f"sample month offset {-m} is out of range (0 to {-(M_MIN + 4)})")
        st = self.state(m)
        tm = self.t(m)
        alive = np.flatnonzero(self.created_us <= tm)
        assessed = np.flatnonzero(st.status != "")
        out = {
            "clusters": self._f_clusters(alive),
            "resource_containers": self._f_containers(alive),
            "policy_states": self._f_policy(m, alive, st),
            "assessments": self._f_assessments(m, assessed, st),
            "findings": self._f_findings(m, st),
            "exemptions": self._f_exemptions(m),
            "governance_assignments": self._f_governance(m, assessed),
            "regulatory_compliance": self._f_regulatory(st),
        }
        out["assessment_history"], out["finding_history"] = self._f_history(m)
        return {name: out[name][list(DATASETS[name])] for name in DATASETS}

    def _f_clusters(self, idx: np.ndarray) -> pd.DataFrame:
        return _df({
            "id": self.cl_id_arr[idx], "name": np.array(self.cl_name, dtype=object)[idx],
            "subscriptionId": self.cl_sub_id[idx], "resourceGroup": self.cl_rg_lower[idx],
            "location": np.array(self.cl_region, dtype=object)[idx],
            "tags": np.array([_jdump(self.cl_tags[i]) for i in idx], dtype=object)})

    def _f_containers(self, alive: np.ndarray) -> pd.DataFrame:
        rows = []
        for si, s in enumerate(self.subs):
            rows.append((f"/subscriptions/{s['id']}", "microsoft.resources/subscriptions", s["name"], s["id"], "",
                         _jdump(s["tags"])))
        rgs: dict[tuple[int, str], tuple[str, dict]] = {}   # (subscription, lower-case name) -> (name, tags)
        for i in range(self.n):
            key = (int(self.cl_sub[i]), self.cl_rg[i])
            if (key[0], key[1].lower()) not in rgs:
                tags = {"app": self.cl_app[i], "environment": self.cl_env[i]}
                owner = self.rg_owner.get(key)
                if owner is not None:
                    tags[self.rg_owner_key[key]] = owner
                rgs[(key[0], key[1].lower())] = (key[1], tags)
        extra = [(reg["sub"], reg["rg"], {"environment": "shared", "app": "container-registry"})
                 for reg in self.registries]
        extra.append((*self.legacy_rg, {"environment": "prod", "app": "legacy-aks", "decommission": "2026-Q4"}))
        extra += [(e["sub"], e["rg"], {"environment": "shared"}) for e in self.exemptions if e.get("extra")]
        for si, rg, tags in extra:
            rgs.setdefault((si, rg.lower()), (rg, tags))
        rg_type = "microsoft.resources/subscriptions/resourcegroups"
        for (si, low), (rg, tags) in sorted(rgs.items()):
            sid = self.subs[si]["id"]
            rows.append((f"/subscriptions/{sid}/resourceGroups/{rg}", rg_type, rg, sid, low, _jdump(tags)))
        for i in alive:
            mc = f"MC_{self.cl_rg[i]}_{self.cl_name[i]}_{self.cl_region[i]}"
            sid = self.cl_sub_id[i]
            tags = {"aks-managed-cluster-name": self.cl_name[i], "aks-managed-cluster-rg": self.cl_rg[i]}
            rows.append((f"/subscriptions/{sid}/resourceGroups/{mc}", rg_type, mc, sid, mc.lower(), _jdump(tags)))
        return pd.DataFrame(rows, columns=["id", "type", "name", "subscriptionId", "resourceGroup", "tags"])

    def _policy_ts(self, tag: str, n: int, m: int) -> np.ndarray:
        return self.t(m) - ((2 + _frac(self._h(tag, np.arange(n), m)) * 18) * _HOUR).astype(np.int64)

    def _f_policy(self, m: int, alive: np.ndarray, st: _State) -> pd.DataFrame:
        tm = self.t(m)
        active: dict[str, list[dict]] = {}
        for e in self.exemptions:
            if self._exemption_active(e, tm):
                active.setdefault(e["policy"], []).append(e)

        def exempted(policy: str, scope: str) -> bool:
            scope = scope.lower()
            return any(scope == e["scope"].lower() or scope.startswith(e["scope"].lower() + "/")
                       for e in active.get(policy, ()))

        groups_main = _jdump(list(cat.POLICY_GROUPS))
        set_id = cat.POLICY_SET_ID.lower()
        cols: dict[str, list] = {c: [] for c in DATASETS["policy_states"]}

        def add(rid: str, sub: int, rg: str, rtype: str, state: str, definition: str, ref: str, groups: str,
                ts: int, n: int) -> None:
            sid = self.subs[sub]["id"]
            name = hashlib.sha1(f"{self.seed}|{rid}|{n}".encode()).hexdigest()
            cols["id"].append(f"{rid}/providers/microsoft.policyinsights/policystates/{name}")
            cols["resourceId"].append(rid)
            cols["resourceType"].append(rtype)
            cols["subscriptionId"].append(sid)
            cols["resourceGroup"].append(rg)
            cols["complianceState"].append(state)
            cols["policyAssignmentId"].append(
                f"/subscriptions/{sid}/providers/microsoft.authorization/policyassignments/securitycenterbuiltin")
            cols["policyAssignmentName"].append(cat.ASSIGNMENT_NAME)
            cols["policyDefinitionId"].append(definition.lower())
            cols["policyDefinitionReferenceId"].append(ref.lower())
            cols["policySetDefinitionId"].append(set_id)
            cols["policyDefinitionGroupNames"].append(groups)
            cols["timestamp"].append(ts)

        ts = self._policy_ts("policy-ts", self.n, m)
        addon_ok = _frac(self._h("addon", np.arange(self.n))) < 0.85
        dprof = cat.OTHER_POLICIES[cat.DEFENDER_PROFILE_POLICY]
        addon = cat.OTHER_POLICIES[cat.POLICY_ADDON_POLICY]
        for c in alive:
            rid = self.cl_lower[c]
            sub, rg = int(self.cl_sub[c]), self.cl_rg_lower[c]
            rtype = "Microsoft.ContainerService/managedClusters"
            status = st.status[c]
            if exempted("main", self.cl_id[c]):
                state = "Exempt"
            elif status in ("Healthy", "NotApplicable"):
                state = "Compliant"
            else:
                state = "NonCompliant"
            add(rid, sub, rg, rtype, state, cat.POLICY_DEFINITION_ID, cat.POLICY_REFERENCE_ID, groups_main,
                int(ts[c]), 0)
            if exempted("defender", self.cl_id[c]):
                dstate = "Exempt"
            else:
                dstate = "Compliant" if status else "NonCompliant"
            add(rid, sub, rg, rtype, dstate, dprof[0], dprof[1], _jdump(list(dprof[2])), int(ts[c]), 1)
            if exempted("addon", self.cl_id[c]):
                astate = "Exempt"
            elif c == self.addon_exempt:
                astate = "NonCompliant"
            else:
                astate = "Compliant" if addon_ok[c] else "NonCompliant"
            add(rid, sub, rg, rtype, astate, addon[0], addon[1], _jdump(list(addon[2])), int(ts[c]), 2)
        regp = cat.OTHER_POLICIES[cat.REGISTRY_POLICY]
        for j, reg in enumerate(self.registries):
            waived = exempted("registry", reg["id"])
            add(reg["id"].lower(), reg["sub"], reg["rg"].lower(), "Microsoft.ContainerRegistry/registries",
                "Exempt" if waived else "NonCompliant", regp[0], regp[1], _jdump(list(regp[2])),
                int(self.t(m) - (5 + j) * _HOUR), 3)
        frame = pd.DataFrame(cols)
        frame["timestamp"] = _ts(np.array(cols["timestamp"], dtype=np.int64)) if len(frame) else frame["timestamp"]
        return frame

    def _f_assessments(self, m: int, idx: np.ndarray, st: _State) -> pd.DataFrame:
        status = st.status[idx]
        change = self._status_change(idx, m)
        change = np.minimum(change, self.t(m))
        return _df({
            "id": self.cl_assess_id[idx], "assessmentKey": cat.ASSESSMENT_KEY, "resourceId": self.cl_assess_rid[idx],
            "subscriptionId": self.cl_sub_id[idx], "resourceGroup": self.cl_rg_lower[idx],
            "statusCode": status, "statusCause": np.where(status == "NotApplicable", "Exempt", ""),
            "severity": "High", "displayName": cat.POLICY_DISPLAY_NAME,
            "firstEvaluationDate": _ts(self.assessed_us[idx]), "statusChangeDate": _ts(change)})

    def _f_findings(self, m: int, st: _State) -> pd.DataFrame:
        n = len(st.key)
        # a few exact duplicates (as paging overlaps produce), some with the resource id in another case
        h = self._h("dup", st.key)
        dup = np.flatnonzero(h % np.uint64(1000) == 0)
        if len(dup) < 3 and n:
            dup = np.sort(np.argsort(h, kind="stable")[:min(3, n)])
        rows = np.concatenate([np.arange(n), dup])
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        is_copy = np.zeros(len(rows), dtype=bool)
        is_copy[1:] = rows[1:] == rows[:-1]
        d, v, variant = st.d[rows], st.v[rows], st.variant[rows]
        c = self.dep_cluster[d]
        r = self.dep_repo[d]
        cve = self.var_cve[variant]
        rv = self.rv_start[r] + v
        exempt = st.exempt[rows]
        rid = self.cl_find_rid[c].copy()
        swap = np.zeros(len(rows), dtype=bool)   # every other copy differs in the case of the resource id
        swap[np.flatnonzero(is_copy)[1::2]] = True
        if swap.any():
            rid[swap] = np.where(rid[swap] == self.cl_lower[c[swap]], self.cl_id_arr[c[swap]], self.cl_lower[c[swap]])
        key = st.key[rows]
        prefix = (self.cl_assess_id + "/subassessments/")[c]
        ids = _guids(self._h("sub-guid", key, 1), self._h("sub-guid", key, 2), prefix)
        scan = self.t(m) - ((1 + _frac(self._h("scan", c, m)) * 29) * _HOUR).astype(np.int64)
        return _df({
            "id": ids, "assessmentKey": cat.ASSESSMENT_KEY, "resourceId": rid,
            "subscriptionId": self.cl_sub_id[c], "resourceGroup": self.cl_rg_lower[c],
            "cveId": self.cve_id[cve], "title": self.cve_title[cve], "severity": self.cve_sev[cve],
            "cvssScore": self.cve_cvss[cve],
            "statusCode": np.where(exempt, "NotApplicable", "Unhealthy").astype(object),
            "statusCause": np.where(exempt, "Exempt", "").astype(object),
            "registryHost": self.repo_registry[r], "repositoryName": self.repo_name[r],
            "imageDigest": self.rv_digest[rv], "imageTags": self.rv_tags[rv],
            "packageName": self.var_pkg[variant], "packageVersion": self.var_ver[variant],
            "fixedVersion": self.var_fixed[variant], "fixStatus": self.var_status[variant],
            "osPlatform": "linux", "osVersion": self.repo_osver[r],
            "publishedDate": _ts(self.cve_pub[cve]), "exploitable": self.cve_exploit[cve],
            "timeGenerated": _ts(scan), "workloads": self.dep_wl[d]})

    def _exemption_active(self, e: dict, tm: int) -> bool:
        created = e["created"] if e["created"] != BEFORE else np.iinfo(np.int64).min
        return created <= tm and (e["expires"] is None or e["expires"] > tm)

    def _f_exemptions(self, m: int) -> pd.DataFrame:
        tm = self.t(m)
        rows = []
        for e in self.exemptions:
            if e["created"] != BEFORE and e["created"] > tm:
                continue
            s = self.subs[e["sub"]]
            rows.append({"id": f"{e['scope']}/providers/Microsoft.Authorization/policyExemptions/{e['name']}",
                         "name": e["name"], "subscriptionId": s["id"], "resourceGroup": e["rg"].lower(),
                         "scope": e["scope"], "policyAssignmentId": e["assignment"],
                         "policyDefinitionReferenceIds": _jdump(e["refs"]), "category": e["category"],
                         "displayName": e["display"], "description": e["desc"],
                         "expiresOn": None if e["expires"] is None else _ts(e["expires"])})
        frame = pd.DataFrame(rows, columns=list(DATASETS["exemptions"]))
        frame["expiresOn"] = pd.to_datetime(frame["expiresOn"], utc=True)
        return frame

    def _f_governance(self, m: int, assessed: np.ndarray) -> pd.DataFrame:
        tm = self.t(m)
        idx = np.array([c for c in assessed if self.gov[c] and self.gov_created[c] <= tm], dtype=np.int64)
        assess_id = self.cl_assess_id[idx]
        lower = _frac(self._h("gov-case", idx)) < 0.3
        assess_id = np.where(lower, np.char.lower(assess_id.astype(str)).astype(object), assess_id) if len(idx) \
            else assess_id
        r = _frac(self._h("gov-owner", idx))
        owners = np.array([_messy(cat.UNITS[self.cl_unit[c]].champion, float(x)) for c, x in zip(idx, r)],
                          dtype=object)
        guid = _guids(self._h("gov-guid", idx, 1), self._h("gov-guid", idx, 2)) if len(idx) else idx.astype(object)
        return _df({
            "id": np.array([f"{a}/governanceAssignments/{g}" for a, g in zip(self.cl_assess_id[idx], guid)],
                           dtype=object),
            "assessmentId": assess_id, "owner": owners,
            "remediationDueDate": _ts(self.gov_due[idx]), "isGracePeriod": self.gov_grace[idx]})

    def _f_regulatory(self, st: _State) -> pd.DataFrame:
        rows = []
        for si, s in enumerate(self.subs):
            sel = self.cl_sub == si
            passed = int(((st.status == "Healthy") & sel).sum())
            failed = int(((st.status == "Unhealthy") & sel).sum())
            skipped = int(((st.status == "NotApplicable") & sel).sum())
            if passed + failed + skipped == 0:
                continue
            state = "Failed" if failed else ("Passed" if passed else "Skipped")
            for control in cat.CONTROLS:
                rows.append({
                    "id": f"/subscriptions/{s['id']}/providers/Microsoft.Security/regulatoryComplianceStandards/"
                          f"{cat.STANDARD}/regulatoryComplianceControls/{control}/regulatoryComplianceAssessments/"
                          f"{cat.ASSESSMENT_KEY}",
                    "subscriptionId": s["id"], "standard": cat.STANDARD, "control": control,
                    "assessmentKey": cat.ASSESSMENT_KEY, "state": state, "passedResources": passed,
                    "failedResources": failed, "skippedResources": skipped})
        return pd.DataFrame(rows, columns=list(DATASETS["regulatory_compliance"]))

    # -- Log Analytics continuous export -----------------------------------------------------------

    def _f_history(self, m: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        tm = self.t(m)
        w0 = tm - LA_RETENTION_DAYS * _DAY
        s0_day = datetime.fromtimestamp(w0 // _US, tz=timezone.utc).date()
        s0_day += timedelta(days=(6 - s0_day.weekday()) % 7)   # weekly export runs on Sundays
        s0 = _us(datetime(s0_day.year, s0_day.month, s0_day.day, 3, 0, 0))
        if s0 < w0:
            s0 += 7 * _DAY
        ma = m
        while self.t(ma - 1) >= s0:
            ma -= 1
        months = list(range(ma - 1, m + 1))
        states = [self.state(i) for i in months]
        sub_minute = (_frac(self._h("export-minute", np.arange(len(self.subs)))) * 50).astype(np.int64) * 60 * _US

        # ---- findings
        keys = _unique_sorted(np.concatenate([s.key for s in states]))
        present = np.zeros((len(keys), len(months)), dtype=bool)
        for j, s in enumerate(states):
            pos = np.searchsorted(s.key, keys)
            pos = np.minimum(pos, max(len(s.key) - 1, 0))
            present[:, j] = (s.key[pos] == keys) if len(s.key) else False
        d, _, variant = self._unkey(keys)
        exempt = self._exempt(d, variant)
        at_s0 = present[:, 0].copy()
        flips_a = present[:, 1] != present[:, 0]
        t_a = np.zeros(len(keys), dtype=np.int64)
        if flips_a.any():
            t_a[flips_a] = self._finding_time(keys[flips_a], ma, states[0], states[1])
        at_s0 = np.where(flips_a & (t_a <= s0), present[:, 1], at_s0)
        ev_key, ev_time, ev_state, ev_snap = [keys[at_s0]], [np.full(int(at_s0.sum()), s0)], \
            [np.where(exempt[at_s0], "NotApplicable", "Unhealthy")], [np.ones(int(at_s0.sum()), dtype=bool)]
        for j in range(1, len(months)):
            flips = present[:, j] != present[:, j - 1]
            if not flips.any():
                continue
            t = t_a[flips] if j == 1 else self._finding_time(keys[flips], months[j], states[j - 1], states[j])
            keep = (t > s0) & (t <= tm)
            fk = keys[flips][keep]
            now = present[flips, j][keep]
            ev_key.append(fk)
            ev_time.append(t[keep])
            ev_state.append(np.where(now, np.where(exempt[flips][keep], "NotApplicable", "Unhealthy"), "Healthy"))
            ev_snap.append(np.zeros(len(fk), dtype=bool))
        fk = np.concatenate(ev_key)
        ft = np.concatenate(ev_time)
        fs = np.concatenate(ev_state).astype(object)
        fsnap = np.concatenate(ev_snap)
        fd, fv, fvar = self._unkey(fk)
        fc = self.dep_cluster[fd]
        ft = np.where(fsnap, ft + sub_minute[self.cl_sub[fc]], ft)
        order = np.lexsort((fk, ft))
        fk, ft, fs, fsnap, fd, fv, fvar, fc = (a[order] for a in (fk, ft, fs, fsnap, fd, fv, fvar, fc))
        rv = self.rv_start[self.dep_repo[fd]] + fv
        finding_history = _df({
            "TimeGenerated": _ts(ft), "AssessedResourceId": self.cl_find_rid[fc],
            "VulnerabilityId": self.cve_id[self.var_cve[fvar]], "imageDigest": self.rv_digest[rv],
            "packageName": self.var_pkg[fvar], "RecommendationState": fs,
            "RecommendationSeverity": self.cve_sev[self.var_cve[fvar]], "IsSnapshot": fsnap})

        # ---- clusters: weekly snapshots and streamed status changes
        status = np.stack([s.status for s in states], axis=1)        # clusters x months
        change_t = np.zeros(status.shape, dtype=np.int64)
        all_c = np.arange(self.n)
        for j in range(1, len(months)):
            change_t[:, j] = self._cluster_time(all_c, months[j])
        rows_t, rows_c, rows_s, rows_snap = [], [], [], []
        snaps = np.arange(s0, tm + 1, 7 * _DAY, dtype=np.int64)
        for ts in snaps:
            j = int(np.searchsorted([self.t(i) for i in months], ts))   # month whose interval holds ts
            j = min(max(j, 1), len(months) - 1)
            st_now = np.where(change_t[:, j] <= ts, status[:, j], status[:, j - 1])
            sel = st_now != ""
            rows_t.append(np.full(int(sel.sum()), ts) + sub_minute[self.cl_sub[sel]])
            rows_c.append(all_c[sel])
            rows_s.append(st_now[sel])
            rows_snap.append(np.ones(int(sel.sum()), dtype=bool))
        for j in range(1, len(months)):
            ch = (status[:, j] != status[:, j - 1]) & (status[:, j] != "")
            ch &= (change_t[:, j] > s0) & (change_t[:, j] <= tm)
            rows_t.append(change_t[ch, j])
            rows_c.append(all_c[ch])
            rows_s.append(status[ch, j])
            rows_snap.append(np.zeros(int(ch.sum()), dtype=bool))
        at = np.concatenate(rows_t).astype(np.int64)
        ac = np.concatenate(rows_c).astype(np.int64)
        ast = np.concatenate(rows_s).astype(object)
        asnap = np.concatenate(rows_snap)
        order = np.lexsort((ac, at))
        at, ac, ast, asnap = at[order], ac[order], ast[order], asnap[order]
        assessment_history = _df({
            "TimeGenerated": _ts(at), "AssessedResourceId": self.cl_assess_rid[ac],
            "RecommendationName": cat.ASSESSMENT_KEY, "RecommendationState": ast, "IsSnapshot": asnap,
            "SubscriptionId": self.cl_sub_id[ac]})
        return assessment_history, finding_history

    # -- writing ---------------------------------------------------------------------------------

    def write(self, out: Path, m: int, scale_label: str | int) -> Path:
        frames = self.frames(m)
        y, mo = _add_months(self.as_of, m)
        as_of = self.as_of if m == 0 else _month_end(y, mo)
        period = (date(y, mo, 1), _month_end(y, mo))
        collected_at = datetime(as_of.year, as_of.month, as_of.day, 6, 0, 0, tzinfo=timezone.utc)
        run_id = uuid.uuid5(TENANT_NAMESPACE, f"reportgen-sample/{self.seed}/{self.n}/{self.as_of.isoformat()}/{-m}"
                            ).hex
        provenance = {name: DatasetInfo(name=name, rows=len(frame), status="complete",
                                        pages=math.ceil(len(frame) / 1000))
                      for name, frame in frames.items()}
        scope = {"tenant_id": self.tenant_id, "subscriptions": [s["id"] for s in self.subs], "management_groups": []}
        extra = {"sample": {"scale": scale_label, "seed": self.seed, "clusters": self.n,
                            "anchor_as_of": self.as_of.isoformat(), "month_offset": -m},
                 "findings_source": "sample"}
        return write_snapshot(Path(out), frames, collected_at=collected_at, period=period, source="sample",
                              run_id=run_id, cloud="AzureCloud", scope=scope, provenance=provenance,
                              extra_meta=extra)
