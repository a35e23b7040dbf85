"""The sample tenant's estate and its timeline: who runs which image where, and when.

Built once per (clusters, seed, as-of) from the catalogue (``catalogue.py``) with
deterministic hashes (``hashing.py``); ``state(m)`` then says which findings are alive at
the as-of time of month ``m`` (0 = the as-of month, -1 = the end of the previous month...).
``tenant.py`` turns one month into raw Azure records.

How the estate is modelled:

* subscriptions -> resource groups -> AKS clusters, with owner tags at every level (mixed
  key casing, messy values), Defender governance assignments for some clusters, and some
  clusters owned by nobody;
* image repositories (third-party and per business unit) with a release history; each
  repository draws a pool of real CVE/package pairs from the catalogue, each pair living
  for a range of image versions (introduced, fixed);
* deployments (cluster x repository, run by one or more containers) that follow new
  releases at their own cadence, or never. A finding is a (cluster, image digest, CVE,
  package) whose version range holds the deployed version; updating an image resolves old
  findings and brings new ones;
* per cluster a "clean" interval (the team patched everything: no open findings), which
  moves compliance month to month, mostly upwards;
* Microsoft's change of 31 July 2026: before it, findings come from both the grouped
  sub-assessments and the individual recommendations; after it, from the individual
  recommendations only, and the grouped assessment c609cf0f disappears from part of the
  estate, month by month.

Special cases exist at every scale: exactly one cluster exempt by a policy exemption and
exactly one cluster with no Defender coverage at all. For the period rules of issue 10 (DESIGN §6)
the estate also holds: exemptions of other policies (other reference ids, and a whole other
assignment), one without expiry, every one with approval metadata and ARM systemData; a governance
cluster that keeps its assessment, so its due date falls between first sightings; one package whose
records carry no firstEvaluationDate (its age is capped by the history); and continuous export of
the individual recommendations for one subscription's few clusters, with one finding opened and
closed inside each month (``tenant.py``).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from reportgen.collect.sample import catalogue as cat
from reportgen.collect.sample.hashing import (DAY, HOUR, US, add_months, bump, choice, frac, hash64, jdump,
                                              messy, month_end, tag, to_us)

M_MIN = -40            # earliest month of the timeline, relative to the as-of month
BEFORE = -1000         # "since before the timeline"
NEVER = 1_000_000      # "never" (month or version index)
# how much of a platform's CVE catalogue an image carries, and how fast fixable CVEs get fixed per release
POOL_OS, POOL_LANG, FIX_RATE = 1.0, 1.0, 0.08
TENANT_NAMESPACE = uuid.UUID("6f1c3c1e-5b1a-4c43-9f4e-2f8e0a7d3b21")
# Grouped recommendations (sub-assessments) were retired on 31 July 2026 (MicrosoftDocs
# transition-grouped-individual-recommendations.md): their data stops, and the grouped
# assessment c609cf0f disappears from a growing part of the estate over the next months.
RETIREMENT_US = to_us(datetime(2026, 8, 1))
RETIRED_SHARE, RETIREMENT_SPREAD_DAYS = 0.5, 150
# Continuous export of the individual recommendations (SecurityRecommendation) starts with July 2026, when
# Microsoft's transition moved continuous export to recommendation categories (transition article of
# 06/29/2026, ../shared/AZURE-NOTES.md "Read first" 7).
EXPORT_START_US = to_us(datetime(2026, 7, 1))
# The history the demo writes (pipeline.DEMO_MONTHS): its oldest month must show an age capped by history.
EVIDENCE_MONTHS = 6


@dataclass
class State:
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
    cand: np.ndarray       # per finding: its entry in the repository's CVE pool (rc_* arrays)


class World:
    def __init__(self, clusters: int, seed: int, as_of: date) -> None:
        self.n = int(clusters)
        self.seed = int(seed)
        self.as_of = as_of
        self._states: dict[int, State] = {}
        self._months()
        self._catalogue()
        self._subscriptions()
        self._clusters()
        self._roles()
        self._repositories()
        self._deployments()
        self._extras()
        self.no_first_evaluation = self._no_first_evaluation()
        # Continuous export of the individual recommendations (SecurityRecommendation) is configured on one
        # subscription (from EXPORT_START_US), so that a few clusters' findings have a history inside each
        # period: the subscription with the fewest clusters among those with at least two clusters that
        # have findings now (else one with any).
        per_sub = np.bincount(self.cl_sub, minlength=len(self.subs))
        active = (self.created_m < -1) & ~self.clean(0) & ~self.clean(-1)
        active[[self.exempt, self.unassessed]] = False
        per_active = np.bincount(self.cl_sub[active], minlength=len(self.subs))
        self.export_sub = min(range(len(self.subs)), key=lambda i: (per_active[i] < 2, per_active[i] < 1,
                                                                    per_sub[i], i))
        self.export_start_us = EXPORT_START_US

    def _rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.n, tag(name)])

    def _h(self, name: str, *parts: Any) -> np.ndarray:
        return hash64(self.seed, tag(name), *parts)

    # -- time ------------------------------------------------------------------------------------

    def _months(self) -> None:
        self.anchor_us = to_us(datetime(self.as_of.year, self.as_of.month, self.as_of.day, 6, 0, 0))
        ms = np.arange(M_MIN - 1, 1)
        t = np.empty(len(ms), dtype=np.int64)
        for i, m in enumerate(ms):
            if m == 0:
                t[i] = self.anchor_us
            else:
                y, mo = add_months(self.as_of, int(m))
                e = month_end(y, mo)
                t[i] = to_us(datetime(e.year, e.month, e.day, 6, 0, 0))
        self._t = t

    def t(self, m: int | np.ndarray) -> Any:
        """As-of time (µs since epoch) of month m (0 = as_of, -1 = end of the previous month...)."""
        return self._t[np.asarray(m) - (M_MIN - 1)]

    def month_label(self, m: int) -> str:
        y, mo = add_months(self.as_of, m)
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
        pub_hour = (frac(hash64(7, np.arange(len(cves)))) * 20).astype(np.int64)
        self.cve_pub = np.array([to_us(datetime.fromisoformat(c.published)) for c in cves], dtype=np.int64) \
            + (pub_hour + 2) * HOUR + 15 * 60 * US
        self.var_cve = np.array([v.cve for v in variants], dtype=np.int64)
        self.var_pkg = np.array([v.package for v in variants], dtype=object)
        self.pkg_names, self.var_pkg_id = np.unique(self.var_pkg.astype(str), return_inverse=True)
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
            primary = choice(rng, region_items)
            secondary = cat.PAIRED_REGION[primary] if env in ("prod", "shared") and rng.random() < 0.6 else primary
            owner_p = {"prod": 0.75, "nonprod": 0.45, "shared": 1.0, "sandbox": 0.0}[env]
            has_owner = rng.random() < owner_p and i != 2
            owner_key = choice(rng, [("owner", 0.5), ("Owner", 0.35), ("OWNER", 0.15)])
            unit_def = cat.UNITS[unit]
            tags = {"businessunit": unit, "costcenter": unit_def.costcenter, "environment": env}
            if has_owner:
                tags[owner_key] = messy(unit_def.owner, rng.random())
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
            env = choice(rng, cat.ENVIRONMENTS[s["env"]])
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
        h = frac(self._h("id-case", np.arange(n)))
        h2 = frac(self._h("id-case-2", np.arange(n)))
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
        f1 = frac(self._h("created", np.arange(n)))
        f2 = frac(self._h("assessed", np.arange(n)))
        pre = created_m == BEFORE
        created = np.where(pre, self.anchor_us - ((1300 + f1 * 900) * DAY).astype(np.int64),
                           self._in_month(np.where(pre, 0, created_m), f1 * 0.8))
        assessed = np.where(pre, self.anchor_us - ((900 + f2 * 150) * DAY).astype(np.int64),
                            created + ((0.5 + f2 * 2.5) * DAY).astype(np.int64))
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
                key = choice(rng, [("owner", 0.6), ("Owner", 0.3), ("OWNER", 0.1)])
                value = unit.owner if r[3] < 0.8 else unit.champion
                tags[key] = messy(value, r[4])
            self.cl_tags.append(tags)
            rk = (int(self.cl_sub[i]), self.cl_rg[i])
            if rk not in rg_owner:
                rg_owner[rk] = messy(unit.owner, r[5]) if rng.random() < 0.4 else None
            if i == self.unowned:
                rg_owner[rk] = None
        self.rg_owner = rg_owner
        self.rg_owner_key = {k: choice(rng, [("owner", 0.6), ("Owner", 0.3), ("OWNER", 0.1)]) for k in rg_owner}

        gov = np.zeros(n, dtype=bool)
        cand = [i for i in normal if clean_start[i] != BEFORE]
        for i in cand[: max(0, round(0.15 * n) - 1)]:
            gov[i] = True
        if self.gov_forced is not None:
            gov[self.gov_forced] = True
        self.gov = gov
        fg = frac(self._h("gov", np.arange(n)))
        fg2 = frac(self._h("gov-2", np.arange(n)))
        frames = np.array([14, 30, 30, 90])
        self.gov_created = self.anchor_us - ((10 + fg * 230) * DAY).astype(np.int64)
        self.gov_days = frames[(fg2 * 4).astype(int) % 4]
        if self.gov_forced is not None:
            self.gov_created[self.gov_forced] = self.anchor_us - 120 * DAY
            self.gov_days[self.gov_forced] = 30
        self.gov_due = self.gov_created + self.gov_days * DAY
        self.gov_grace = frac(self._h("grace", np.arange(n))) < 0.1

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
            versions.append(bump(versions[-1], float(rng.random())))
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
        os_ = choice(rng, oses)
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
                tags.append(jdump([ver]))
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
        tp_workloads = {tp.repository: jdump([{"container": tp.container, "kind": tp.kind, "name": tp.workload,
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
        start = np.where(late, np.maximum(start, (frac(self._h("dep-start", np.arange(nd))) * 15).astype(
            np.int64) - 14), start)
        fe = frac(self._h("dep-end", np.arange(nd)))
        end = np.where(fe < 0.04, -14 + (fe / 0.04 * 14).astype(np.int64), NEVER)
        end = np.where(end <= start, NEVER, end)
        self.dep_start, self.dep_end = start, end

    def _workloads(self, rng: np.random.Generator, unit: cat.Unit, service: str) -> str:
        batch = any(service.endswith(s) for s in ("-batch", "-job", "-runner", "-export", "migrator"))
        kind = "CronJob" if batch else ("StatefulSet" if rng.random() < 0.06 else "Deployment")
        namespace = unit.name if rng.random() < 0.6 else service.split("-")[0]
        container = service if rng.random() < 0.75 else choice(rng, [("app", 1), ("main", 1), ("server", 1)])
        wl = [{"container": container, "kind": kind, "name": service, "namespace": namespace}]
        if not batch and rng.random() < 0.15:
            wl.append({"container": "migrate", "kind": "Job", "name": f"{service}-db-migrate", "namespace": namespace})
        if not batch and rng.random() < 0.1:
            wl.append({"container": container, "kind": "Deployment", "name": f"{service}-canary",
                       "namespace": namespace})
        return jdump(wl)

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
                   "expires": a + 21 * DAY + 18 * HOUR, "created": BEFORE, "policy": "main",
                   "metadata": {"approvedBy": f"ciso-office@{cat.EMAIL_DOMAIN}",
                                "requestedBy": cat.UNITS[self.cl_unit[x]].champion, "ticket": "SEC-2291",
                                "reviewCadence": "monthly",
                                "compensatingControls": "no ingress; no outbound internet; weekly rebuilds"},
                   "creator": (cat.UNITS[self.cl_unit[x]].champion, "User"), "created_at": a - 1300 * DAY,
                   "modifier": (f"ciso-office@{cat.EMAIL_DOMAIN}", "User"), "modified_at": a - 9 * DAY})
        platform = cat.UNITS["platform"].champion
        pipeline = (str(uuid.uuid5(TENANT_NAMESPACE, f"{self.seed}/sp-policy-as-code")), "Application")
        sandbox = [i for i, s in enumerate(subs) if s["env"] == "sandbox"] or \
                  [i for i, s in enumerate(subs) if s["env"] == "nonprod"] or [len(subs) - 1]
        si = sandbox[-1]
        ex.append({"scope": f"/subscriptions/{subs[si]['id']}", "sub": si, "rg": "",
                   "name": f"waiver-defender-profile-{subs[si]['name']}",
                   "refs": [cat.OTHER_POLICIES[cat.DEFENDER_PROFILE_POLICY][1]], "category": "Waiver",
                   "display": f"Defender profile managed outside AKS in {subs[si]['name']}",
                   "desc": "The Defender sensor is deployed by the platform Helm pipeline instead of the AKS "
                           "security profile; the profile policy is waived for this subscription.",
                   "expires": None, "created": a - 500 * DAY, "policy": "defender",
                   "metadata": {"approvedBy": platform, "requestedBy": f"platform-engineering@{cat.EMAIL_DOMAIN}",
                                "ticket": "SEC-1877", "reviewCadence": "annual"},
                   "creator": pipeline})
        reg = self.registries[0]
        ex.append({"scope": reg["id"], "sub": reg["sub"], "rg": reg["rg"], "name": f"waiver-{reg['name']}-base-images",
                   "refs": [cat.OTHER_POLICIES[cat.REGISTRY_POLICY][1]], "category": "Waiver",
                   "display": f"Registry {reg['name']}: archived base images",
                   "desc": "Registry keeps archived base images for rollback; purge scheduled (CHG-10422).",
                   "expires": a + 120 * DAY, "created": a - 200 * DAY, "policy": "registry",
                   "metadata": {"approver": platform, "requestedBy": platform, "ticketRef": "CHG-10422",
                                "reviewCadence": "quarterly"},
                   "creator": (platform, "User"), "modifier": (platform, "User"), "modified_at": a - 75 * DAY})
        lsi, lrg = self.legacy_rg
        ex.append({"scope": f"/subscriptions/{subs[lsi]['id']}/resourceGroups/{lrg}", "sub": lsi, "rg": lrg,
                   "name": "waiver-legacy-aks-decommission", "refs": [cat.POLICY_REFERENCE_ID], "category": "Waiver",
                   "display": "Legacy AKS platform pending decommission",
                   "desc": "Clusters in this resource group are being migrated to the new platform (PRJ-118).",
                   "expires": a - 45 * DAY, "created": a - 400 * DAY, "policy": "main",
                   "metadata": {"approvedBy": f"ciso-office@{cat.EMAIL_DOMAIN}", "requestedBy": platform,
                                "ticket": "SEC-1990", "project": "PRJ-118", "reviewCadence": "quarterly"},
                   "creator": (platform, "User")})
        normal = [i for i in range(self.n) if i not in (self.exempt, self.unassessed)]
        self.addon_exempt = normal[len(normal) // 2] if normal else None
        if self.addon_exempt is not None:
            c = self.addon_exempt
            ex.append({"scope": self.cl_id[c], "sub": int(self.cl_sub[c]), "rg": self.cl_rg_lower[c],
                       "name": f"mitigated-{self.cl_name[c]}-policy-addon",
                       "refs": [cat.OTHER_POLICIES[cat.POLICY_ADDON_POLICY][1]], "category": "Mitigated",
                       "display": f"Gatekeeper installed manually on {self.cl_name[c]}",
                       "desc": "OPA Gatekeeper runs as a self-managed release while the add-on is evaluated.",
                       "expires": a - 10 * DAY, "created": a - 300 * DAY, "policy": "addon",
                       # requested, never approved: the approval evidence is missing
                       "metadata": {"requestedBy": cat.UNITS[self.cl_unit[c]].champion, "ticket": "SEC-2410",
                                    "reviewCadence": "quarterly"},
                       "creator": (cat.UNITS[self.cl_unit[c]].champion, "User")})
        # An exemption of another assignment (the pod security baseline initiative) on a cluster with open
        # findings: with no reference ids it exempts that whole initiative, never our policy.
        pod = [i for i in normal if i != self.addon_exempt and self.clean_start[i] == NEVER
               and self.created_m[i] == BEFORE] or normal
        if pod:
            c = pod[0]
            sid = subs[int(self.cl_sub[c])]["id"]
            ex.append({"scope": self.cl_id[c], "sub": int(self.cl_sub[c]), "rg": self.cl_rg_lower[c],
                       "name": f"waiver-{self.cl_name[c]}-pod-security", "refs": [], "category": "Waiver",
                       "display": f"Privileged node agents on {self.cl_name[c]}",
                       "desc": "The storage CSI node agents need privileged containers and host paths; "
                               "the pod security baseline is waived for this cluster.",
                       "expires": a + 200 * DAY, "created": a - 150 * DAY, "policy": "podsecurity",
                       "assignment": f"/subscriptions/{sid}/providers/Microsoft.Authorization/policyAssignments/"
                                     f"{cat.POD_SECURITY_ASSIGNMENT_NAME}",
                       "metadata": {"approvedBy": platform, "requestedBy": cat.UNITS[self.cl_unit[c]].champion,
                                    "ticket": "SEC-2502", "reviewCadence": "semiannual"},
                       "creator": pipeline})
        self.pod_security_exempt = pod[0] if pod else None
        rng = self._rng("exemptions")
        for si in range(3, len(subs)):
            if rng.random() >= 0.3:
                continue
            code = self.region_code[subs[si]["regions"][0]]
            choice = int(rng.integers(0, 3))
            expires = [None, a + int(rng.integers(5, 200)) * DAY, a - int(rng.integers(5, 200)) * DAY][choice]
            app = cat.UNITS[subs[si]["unit"]].apps[0]
            ex.append({"scope": f"/subscriptions/{subs[si]['id']}/resourceGroups/rg-{app}-shared-{code}", "sub": si,
                       "rg": f"rg-{app}-shared-{code}", "name": f"waiver-policy-addon-{app}-{si:02d}",
                       "refs": [cat.OTHER_POLICIES[cat.POLICY_ADDON_POLICY][1]],
                       "category": "Waiver" if rng.random() < 0.6 else "Mitigated",
                       "display": f"Azure Policy add-on rollout for {subs[si]['name']}",
                       "desc": "Add-on rollout is staged per subscription; tracked in the platform backlog.",
                       "expires": expires, "created": a - int(rng.integers(30, 700)) * DAY, "policy": "addon",
                       "extra": True, "creator": pipeline,
                       "metadata": {"approvedBy": platform, "requestedBy": cat.UNITS[subs[si]["unit"]].champion,
                                    "ticket": f"SEC-{3000 + si}", "reviewCadence": "quarterly"}})
        for e in ex:
            e.setdefault("assignment", assignment(e["sub"]))
            e.setdefault("created_at", e["created"])
        self.exemptions = ex

    def _no_first_evaluation(self) -> tuple[int, int] | None:
        """(deployment, package id) whose individual recommendations carry no firstEvaluationDate.

        The assessments REST schema (Azure/azure-rest-api-specs Microsoft.Security stable/2021-06-01
        assessments.json, AssessmentStatusResponse) does not require firstEvaluationDate or
        statusChangeDate, and the legacy sub-assessments never had one: such a package, vulnerable on a
        pinned image since before the oldest history month, has no first seen but its first sighting, so
        its age is capped by the history (a lower bound)."""
        lo = -EVIDENCE_MONTHS - 2   # open since before the month before the oldest one, seen at every sighting
        ok_c = (self.created_m == BEFORE) & ~np.any([self.clean(m) for m in range(lo, 1)], axis=0)
        for special in (self.exempt, self.unassessed):
            ok_c[special] = False
        d = np.flatnonzero((self.dep_k == 0) & (self.dep_start <= lo) & (self.dep_end == NEVER)
                           & ok_c[self.dep_cluster])
        for dd in d[np.argsort(frac(self._h("no-first-evaluation", d)), kind="stable")].tolist():
            repo, v = int(self.dep_repo[dd]), int(self.dep_pinned[dd])
            sl = slice(int(self.rc_start[repo]), int(self.rc_start[repo] + self.rc_count[repo]))
            var = self.rc_var[sl]
            ok = (self.rc_a[sl] <= v) & (v < self.rc_b[sl]) & (self.rc_det[sl] <= lo) \
                & (self.cve_pub[self.var_cve[var]] <= int(self.t(lo)) - 2 * DAY) \
                & ~self._exempt(np.full(len(var), dd), var)
            if ok.any():
                return dd, int(self.var_pkg_id[var[ok][0]])
        return None

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

    def state(self, m: int) -> State:
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
            & (self.cve_pub[self.var_cve[variant]] <= tm - 2 * DAY)
        rows_d, v, variant, cand = rows_d[ok], v[ok], variant[ok], cand[ok]
        key = self._key(rows_d, v, variant)
        exempt = self._exempt(rows_d, variant)
        status = np.full(self.n, "", dtype=object)
        status[assessed_c] = "Healthy"
        open_c = np.bincount(self.dep_cluster[rows_d[~exempt]], minlength=self.n) > 0
        status[assessed_c & open_c] = "Unhealthy"
        if assessed_c[self.exempt]:
            status[self.exempt] = "NotApplicable"
        order = np.argsort(key, kind="stable")
        rows_d, v, variant, cand, key, exempt = (a[order] for a in (rows_d, v, variant, cand, key, exempt))
        st = State(m, rows_d, v, variant, key, exempt, dep_ver, dep_alive, status, cand)
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
        """Exempt in Defender: a package on a cluster (status NotApplicable, cause Exempt), or the exempt cluster.

        The individual recommendations carry one status per package, so an exemption covers
        every CVE of the package."""
        c = self.dep_cluster[d]
        per_package = frac(self._h("package-exempt", c, self.var_pkg_id[variant])) < 0.03
        return per_package | (c == self.exempt)

    # -- Microsoft's change of 31 July 2026 -------------------------------------------------------

    def legacy_available(self, m: int) -> bool:
        """Whether the grouped sub-assessments (and their continuous export) still hold data at month m."""
        return int(self.t(m)) < RETIREMENT_US

    def assessment_retired(self, m: int) -> np.ndarray:
        """Per cluster: the grouped assessment c609cf0f is gone at month m (the policy still names it)."""
        n = np.arange(self.n)
        chosen = frac(self._h("retired", n)) < RETIRED_SHARE
        # the governance cluster keeps its assessment (governance assignments live under it), so that its
        # due date still applies in the current month
        for special in (self.exempt, self.unassessed, self.gov_forced):
            if special is not None:
                chosen[special] = False
        gone_at = RETIREMENT_US + (frac(self._h("retired-at", n)) * RETIREMENT_SPREAD_DAYS * DAY).astype(np.int64)
        return chosen & (int(self.t(m)) >= gone_at)

    # -- transition times (consistent between findings, clusters and history) ----------------------

    def _cluster_flip(self, c: np.ndarray, m: int) -> np.ndarray:
        tm, tp = self.t(m), self.t(m - 1)
        clean_flip = self.clean(m)[c] != self.clean(m - 1)[c]
        assessed_flip = (self.assessed_us[c] > tp) & (self.assessed_us[c] <= tm)
        return clean_flip | assessed_flip

    def _cluster_time(self, c: np.ndarray, m: int) -> np.ndarray:
        tm, tp = self.t(m), self.t(m - 1)
        base = self._in_month(np.full(len(c), m), frac(self._h("cluster-flip", c, m)))
        assessed_now = (self.assessed_us[c] > tp) & (self.assessed_us[c] <= tm)
        return np.where(assessed_now, self.assessed_us[c], base)

    def _finding_time(self, key: np.ndarray, m: int, prev: State, cur: State) -> np.ndarray:
        """When a finding's state changed during month m."""
        d, _, _ = self._unkey(key)
        c = self.dep_cluster[d]
        t_c = self._cluster_time(c, m)
        t_d = self._in_month(np.full(len(d), m), frac(self._h("dep-flip", d, m)))
        t_f = self._in_month(np.full(len(d), m), frac(self._h("finding-flip", key, m)))
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

