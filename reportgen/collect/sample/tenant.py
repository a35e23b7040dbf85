"""One month of the sample tenant as raw Azure records: what Azure would hold at that as-of time.

``MonthTenant(world, m)`` turns the estate and timeline of ``world.py`` into the rows of
Resource Graph's ``resources``, ``resourcecontainers``, ``policyresources`` and
``securityresources`` tables and of the workspace's continuous-export tables, each made by
the record functions of ``records.py`` (which name the Microsoft source of every shape). The
snapshot is then made from these records by the real query files, as from Azure.

Around Microsoft's change of 31 July 2026: before it, every finding is both a legacy
sub-assessment (one per CVE, with the Kubernetes context of every container running the
image) and an individual recommendation (one per package and container, its CVEs in
CvesDetails); after it, only the individual recommendations remain, the sub-assessment
export stops, and the grouped assessment c609cf0f is gone from part of the estate. From July 2026 the
individual recommendations of one subscription are exported to ``SecurityRecommendation`` as well
(weekly snapshots and streamed changes, ``recommendation_export``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, NamedTuple

import numpy as np
import pyarrow as pa

from reportgen.collect.sample import catalogue as cat
from reportgen.collect.sample import records as rec
from reportgen.collect.sample.hashing import DAY, HOUR, US, frac, guids, hash64, messy, to_us, unique_sorted
from reportgen.collect.sample.world import BEFORE, M_MIN, RETIREMENT_US, World
from reportgen.kql.engine import ComposedRecords, iso_time, records_table, sql_text

LA_RETENTION_DAYS = 60  # continuous-export history kept in the workspace
RESOURCE_GRAPH_TABLES = ("resources", "resourcecontainers", "policyresources", "securityresources")
LOG_ANALYTICS_TABLES = ("SecurityRecommendation", "SecurityNestedRecommendation")

# Package ecosystems as vendors and package types (illustrative; Microsoft documents neither list).
_VENDOR = {"debian": ("debian", "deb"), "ubuntu": ("canonical", "deb"), "alpine": ("alpine", "apk"),
           "mariner": ("microsoft", "rpm"), "go": ("golang", "golang"), "java": ("maven", "maven"),
           "python": ("pypi", "pypi"), "npm": ("npm", "npm"), "dotnet": ("nuget", "nuget")}
_SEVERITY_RANK = {"Critical": 4, "High": 3, "Medium": 2, "Low": 1}
_VECTORS = {"Critical": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "High": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
            "Medium": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:L", "Low": "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N"}


@functools.lru_cache(maxsize=1 << 16)
def _iso(us: int) -> str:
    return iso_time(datetime.fromtimestamp(int(us) // US, tz=timezone.utc))


class Package(NamedTuple):
    """What an individual recommendation says of its package (additionalData and metadata)."""

    cves: str            # CvesDetails: JSON text
    vendor: str
    package_type: str
    fixed: str
    severity: str
    software: str
    version: str
    display: str


# An individual recommendation's properties, joined from its parts (see individual_recommendation_parts).
PROPERTIES_SQL = (
    """'{"resourceDetails":{"Source":"Azure","Id":"' || entity || '","ResourceType":"K8s-container","""
    """"ResourceProvider":"Microsoft.Security"},"displayName":' || display || status || package || details || '}'""")


def _dictionary(values: list[str], index: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(values, pa.string()))


def _vendor(platform: str) -> tuple[str, str]:
    return _VENDOR.get(platform.split("-", 1)[0], (platform, platform))


class MonthTenant:
    """The raw records of month ``m`` of ``world`` (0 = its as-of month)."""

    def __init__(self, world: World, m: int) -> None:
        self.w = world
        self.m = m
        self.st = world.state(m)
        self.tm = int(world.t(m))
        self.alive = np.flatnonzero(world.created_us <= self.tm)
        self.retired = world.assessment_retired(m)
        self.assessed = np.flatnonzero((self.st.status != "") & ~self.retired)
        self.tenant_id = world.tenant_id

    # ------------------------------------------------------------------ the tables

    def resource_graph(self, schemas: dict[str, dict[str, str]]) -> dict[str, pa.Table]:
        tables = {
            "resources": self.clusters(),
            "resourcecontainers": self.containers(),
            "policyresources": self.policy_states() + self.exemptions(),
            "securityresources": self.assessments() + self.governance() + self.regulatory() + self.sub_assessments(),
        }
        return {name: records_table(rows, schemas[name]) for name, rows in tables.items()}

    def composed(self) -> dict[str, ComposedRecords]:
        """Records the engine writes from parts: the individual recommendations of ``securityresources``."""
        parts = self.individual_recommendation_parts()
        return {"securityresources": parts} if parts is not None else {}

    def log_analytics(self, schemas: dict[str, dict[str, str]]) -> dict[str, pa.Table]:
        recommendations, nested = self.history()
        recommendations += self.recommendation_export()
        return {"SecurityRecommendation": records_table(recommendations, schemas["SecurityRecommendation"]),
                "SecurityNestedRecommendation": records_table(nested, schemas["SecurityNestedRecommendation"])}

    # ------------------------------------------------------------------ resources, containers

    def clusters(self) -> list[dict]:
        w = self.w
        return [rec.managed_cluster(w.cl_id[i], tenant_id=self.tenant_id, subscription_id=w.cl_sub_id[i],
                                    resource_group=w.cl_rg[i], location=w.cl_region[i], tags=w.cl_tags[i])
                for i in self.alive]

    def containers(self) -> list[dict]:
        w = self.w
        rows = [rec.subscription(s["id"], s["name"], tenant_id=self.tenant_id, tags=s["tags"]) for s in w.subs]
        groups: dict[tuple[int, str], tuple[str, str, dict]] = {}   # (subscription, lower name) -> (name, location, tags)
        for i in range(w.n):
            key = (int(w.cl_sub[i]), w.cl_rg[i])
            if (key[0], key[1].lower()) not in groups:
                tags = {"app": w.cl_app[i], "environment": w.cl_env[i]}
                owner = w.rg_owner.get(key)
                if owner is not None:
                    tags[w.rg_owner_key[key]] = owner
                groups[(key[0], key[1].lower())] = (key[1], w.cl_region[i], tags)
        extra = [(reg["sub"], reg["rg"], {"environment": "shared", "app": "container-registry"}) for reg in w.registries]
        extra.append((*w.legacy_rg, {"environment": "prod", "app": "legacy-aks", "decommission": "2026-Q4"}))
        extra += [(e["sub"], e["rg"], {"environment": "shared"}) for e in w.exemptions if e.get("extra")]
        for si, rg, tags in extra:
            groups.setdefault((si, rg.lower()), (rg, w.subs[si]["regions"][0], tags))
        for (si, _), (name, location, tags) in sorted(groups.items()):
            rows.append(rec.resource_group(w.subs[si]["id"], name, tenant_id=self.tenant_id, location=location,
                                           tags=tags))
        for i in self.alive:   # the node resource group AKS creates for every cluster
            name = f"MC_{w.cl_rg[i]}_{w.cl_name[i]}_{w.cl_region[i]}"
            rows.append(rec.resource_group(w.cl_sub_id[i], name, tenant_id=self.tenant_id, location=w.cl_region[i],
                                           tags={"aks-managed-cluster-name": w.cl_name[i],
                                                 "aks-managed-cluster-rg": w.cl_rg[i]}))
        return rows

    # ------------------------------------------------------------------ policyresources

    def _active_exemptions(self) -> dict[str, list[dict]]:
        active: dict[str, list[dict]] = {}
        for e in self.w.exemptions:
            created = e["created"] if e["created"] != BEFORE else np.iinfo(np.int64).min
            if created <= self.tm and (e["expires"] is None or e["expires"] > self.tm):
                active.setdefault(e["policy"], []).append(e)
        return active

    def policy_states(self) -> list[dict]:
        w, m, st = self.w, self.m, self.st
        active = self._active_exemptions()

        def exempted(policy: str, scope: str) -> bool:
            scope = scope.lower()
            return any(scope == e["scope"].lower() or scope.startswith(e["scope"].lower() + "/")
                       for e in active.get(policy, ()))

        rows: list[dict] = []

        def add(rid: str, sub: int, rg: str, location: str, rtype: str, state: str, policy: tuple, ts: int, n: int) -> None:
            sid = w.subs[sub]["id"]
            rows.append(rec.policy_state(
                name=hashlib.sha1(f"{w.seed}|{rid}|{n}".encode()).hexdigest(), resource_id=rid, resource_type=rtype,
                resource_location=location, tenant_id=self.tenant_id, subscription_id=sid, resource_group=rg,
                compliance_state=state,
                assignment_id=f"/subscriptions/{sid}/providers/microsoft.authorization/policyassignments/"
                              f"{cat.ASSIGNMENT_NAME.lower()}",
                assignment_name=cat.ASSIGNMENT_NAME, definition_id=policy[0], reference_id=policy[1],
                group_names=policy[2], set_definition_id=cat.POLICY_SET_ID, timestamp=_iso(ts)))

        main = (cat.POLICY_DEFINITION_ID, cat.POLICY_REFERENCE_ID, cat.POLICY_GROUPS)
        dprof = cat.OTHER_POLICIES[cat.DEFENDER_PROFILE_POLICY]
        addon = cat.OTHER_POLICIES[cat.POLICY_ADDON_POLICY]
        ts = self.tm - ((2 + frac(w._h("policy-ts", np.arange(w.n), m)) * 18) * HOUR).astype(np.int64)
        addon_ok = frac(w._h("addon", np.arange(w.n))) < 0.85
        rtype = "Microsoft.ContainerService/managedClusters"
        for c in self.alive:
            rid, sub, rg, loc = w.cl_lower[c], int(w.cl_sub[c]), w.cl_rg_lower[c], w.cl_region[c]
            status = st.status[c]
            if exempted("main", w.cl_id[c]):
                state = "Exempt"
            elif status in ("Healthy", "NotApplicable"):
                state = "Compliant"
            else:
                state = "NonCompliant"
            add(rid, sub, rg, loc, rtype, state, main, int(ts[c]), 0)
            dstate = "Exempt" if exempted("defender", w.cl_id[c]) else ("Compliant" if status else "NonCompliant")
            add(rid, sub, rg, loc, rtype, dstate, dprof, int(ts[c]), 1)
            if exempted("addon", w.cl_id[c]):
                astate = "Exempt"
            elif c == w.addon_exempt:
                astate = "NonCompliant"
            else:
                astate = "Compliant" if addon_ok[c] else "NonCompliant"
            add(rid, sub, rg, loc, rtype, astate, addon, int(ts[c]), 2)
        # the pod security baseline initiative, assigned in the subscription of its exempted cluster (the
        # policy_states query drops these rows: they show the assignment exists without our definition)
        if w.pod_security_exempt is not None:
            si = int(w.cl_sub[w.pod_security_exempt])
            sid = w.subs[si]["id"]
            assignment = f"/subscriptions/{sid}/providers/microsoft.authorization/policyassignments/" \
                         f"{cat.POD_SECURITY_ASSIGNMENT_NAME}"
            for c in self.alive[w.cl_sub[self.alive] == si]:
                state = "Exempt" if exempted("podsecurity", w.cl_id[c]) else "Compliant"
                for n, (definition, reference) in enumerate(cat.POD_SECURITY_POLICIES):
                    rid = w.cl_lower[c]
                    rows.append(rec.policy_state(
                        name=hashlib.sha1(f"{w.seed}|{rid}|pod|{n}".encode()).hexdigest(), resource_id=rid,
                        resource_type=rtype, resource_location=w.cl_region[c], tenant_id=self.tenant_id,
                        subscription_id=sid, resource_group=w.cl_rg_lower[c], compliance_state=state,
                        assignment_id=assignment, assignment_name=cat.POD_SECURITY_ASSIGNMENT_NAME,
                        definition_id=definition, reference_id=reference, group_names=(),
                        set_definition_id=cat.POD_SECURITY_SET_ID, timestamp=_iso(int(ts[c])), effect="audit",
                        set_category="kubernetes"))
        regp = cat.OTHER_POLICIES[cat.REGISTRY_POLICY]
        for j, reg in enumerate(w.registries):
            state = "Exempt" if exempted("registry", reg["id"]) else "NonCompliant"
            add(reg["id"].lower(), reg["sub"], reg["rg"].lower(), w.subs[reg["sub"]]["regions"][0],
                "Microsoft.ContainerRegistry/registries", state, regp, int(self.tm - (5 + j) * HOUR), 3)
        return rows

    def exemptions(self) -> list[dict]:
        w = self.w
        rows = []
        for e in w.exemptions:
            if e["created"] != BEFORE and e["created"] > self.tm:
                continue
            rows.append(rec.policy_exemption(
                scope=e["scope"], name=e["name"], tenant_id=self.tenant_id, subscription_id=w.subs[e["sub"]]["id"],
                resource_group=e["rg"], assignment_id=e["assignment"], reference_ids=e["refs"], category=e["category"],
                display_name=e["display"], description=e["desc"],
                expires_on=None if e["expires"] is None else _iso(e["expires"]), metadata=e.get("metadata"),
                system_data=self._system_data(e)))
        return rows

    def _system_data(self, e: dict) -> dict:
        """The exemption's ARM systemData as of this month: its last change only once it has happened."""
        created = int(e["created_at"])
        creator, creator_type = e["creator"]
        modified = e.get("modified_at")
        if modified is None or modified > self.tm:
            modified, (modifier, modifier_type) = created, e["creator"]
        else:
            modifier, modifier_type = e["modifier"]
        return rec.system_data(created_by=creator, created_by_type=creator_type, created_at=_iso(created),
                               last_modified_by=modifier, last_modified_by_type=modifier_type,
                               last_modified_at=_iso(int(modified)))

    # ------------------------------------------------------------------ securityresources

    def assessments(self) -> list[dict]:
        w, st = self.w, self.st
        idx = self.assessed
        change = np.minimum(w._status_change(idx, self.m), self.tm) if len(idx) else idx
        return [rec.assessment(
            resource_id=w.cl_assess_rid[c], key=cat.ASSESSMENT_KEY, tenant_id=self.tenant_id,
            subscription_id=w.cl_sub_id[c], resource_group=w.cl_rg_lower[c], status_code=st.status[c],
            status_cause="Exempt" if st.status[c] == "NotApplicable" else "",
            first_evaluation=_iso(w.assessed_us[c]), status_change=_iso(change[i]),
            display_name=cat.POLICY_DISPLAY_NAME, severity="High", policy_definition_id=cat.POLICY_DEFINITION_ID)
            for i, c in enumerate(idx)]

    def governance(self) -> list[dict]:
        """Governance assignments live under their assessment: none where c609cf0f is gone."""
        w = self.w
        idx = np.array([c for c in self.assessed if w.gov[c] and w.gov_created[c] <= self.tm], dtype=np.int64)
        if not len(idx):
            return []
        lower = frac(w._h("gov-case", idx)) < 0.3
        owners = [messy(cat.UNITS[w.cl_unit[c]].champion, float(x))
                  for c, x in zip(idx, frac(w._h("gov-owner", idx)))]
        ids = guids(w._h("gov-guid", idx, 1), w._h("gov-guid", idx, 2))
        rows = []
        for j, c in enumerate(idx):
            assessment_id = w.cl_assess_id[c]
            rows.append(rec.governance_assignment(
                assessment_id=assessment_id.lower() if lower[j] else assessment_id, guid=ids[j],
                tenant_id=self.tenant_id, subscription_id=w.cl_sub_id[c], resource_group=w.cl_rg_lower[c],
                owner=owners[j], due=_iso(w.gov_due[c]), grace=bool(w.gov_grace[c])))
            rows[-1]["id"] = f"{assessment_id}/governanceAssignments/{ids[j]}"
        return rows

    def regulatory(self) -> list[dict]:
        w, st = self.w, self.st
        rows = []
        for si, s in enumerate(w.subs):
            sel = w.cl_sub == si
            passed = int(((st.status == "Healthy") & sel).sum())
            failed = int(((st.status == "Unhealthy") & sel).sum())
            skipped = int(((st.status == "NotApplicable") & sel).sum())
            if passed + failed + skipped == 0:
                continue
            state = "Failed" if failed else ("Passed" if passed else "Skipped")
            for control in cat.CONTROLS:
                rows.append(rec.regulatory_assessment(
                    subscription_id=s["id"], standard=cat.STANDARD, control=control, key=cat.ASSESSMENT_KEY,
                    tenant_id=self.tenant_id, state=state, passed=passed, failed=failed, skipped=skipped,
                    description=cat.POLICY_DISPLAY_NAME))
        return rows

    # ------------------------------------------------------------------ findings: the two models

    def _finding_columns(self) -> dict[str, np.ndarray]:
        """Per alive finding of the month: cluster, repository, CVE, digest row and first evaluation."""
        w, st = self.w, self.st
        d, v, variant = st.d, st.v, st.variant
        c = w.dep_cluster[d]
        r = w.dep_repo[d]
        cve = w.var_cve[variant]
        # Defender's first evaluation of the package on the container: when the vulnerable
        # version was released, the deployment started, the cluster was first assessed and the
        # CVE was published, whichever came last.
        jitter = frac(w._h("first-evaluation", d, variant))   # somewhere inside the month it happened
        intro = w._in_month(np.clip(w.rel[r, np.minimum(w.rc_a[st.cand], w.vmax - 1)], M_MIN + 1, 0), jitter)
        start = w._in_month(np.clip(w.dep_start[d], M_MIN + 1, 0), jitter)
        detect = w._in_month(np.clip(w.rc_det[st.cand], M_MIN + 1, 0), jitter)
        first = np.maximum.reduce([intro, start, detect, w.assessed_us[c], w.cve_pub[cve] + 2 * DAY])
        first = np.minimum(first, self.tm - HOUR)
        return {"c": c, "r": r, "cve": cve, "rv": w.rv_start[r] + v, "first": first}

    def individual_recommendations(self) -> list[dict]:
        """One record per (container, package) of every alive finding, its CVEs in CvesDetails."""
        return [rec.individual_recommendation(**fields) for fields in self._recommendation_fields()]

    def individual_recommendation_parts(self) -> ComposedRecords | None:
        """The same records as ``individual_recommendations``, as parts the engine joins into JSON text.

        A large tenant holds about a million of them; building each as nested dicts and
        serialising it costs minutes. Every distinct piece is escaped once here; DuckDB
        concatenates them (``engine.ComposedRecords``). ``tests/collect/test_sample.py`` checks
        the records it makes equal the records above."""
        w = self.w
        g = self._recommendation_groups()
        if g is None:
            return None
        q = rec.quote
        # per distinct set of CVE variants: the package's part of the record, written once
        sigs, sig_first, sig_of_group = np.unique(g["sig"], return_index=True, return_inverse=True)
        displays, packages = [], []
        for i in sig_first.tolist():
            pk = self._package(g["variants"](i))
            display = q(pk.display)
            displays.append(display)
            packages.append(
                f',"metadata":{{"displayName":{display},"assessmentType":"BuiltIn","severity":{q(pk.severity)},'
                f'"recommendationCategory":"SoftwareUpdate","categories":["Container"]}},'
                f'"additionalData":{{"SoftwareName":{q(pk.software)},"SoftwareVendor":{q(pk.vendor)},'
                f'"PackageType":{q(pk.package_type)},"FixedVersion":{q(pk.fixed)},'
                f'"DetectedSoftwareVersions":[{q(pk.version)}],"CvesDetails":{q(pk.cves)}}},"resourceAdditionalData":')
        # one row per container of the group's deployment
        counts = g["containers"]
        row_group = np.repeat(np.arange(len(counts)), counts)
        k = np.arange(len(row_group)) - np.repeat(np.cumsum(counts) - counts, counts)
        dep = g["dep"][row_group]
        c = w.dep_cluster[dep]
        exempt = g["exempt"][row_group]

        def column(values, index) -> pa.Array:   # distinct values, taken per row in Arrow (no per-row Python)
            return pa.array(list(values), pa.string()).take(pa.array(index, pa.int64()))

        sig_rows = sig_of_group[row_group]
        entity_ids, entity_index = self._entity_ids_flat()
        entity_a = column(entity_ids, entity_index[dep] + k)
        # the status part: its code, first evaluation and last change (an exemption changed it at the last scan)
        first_u, first_of_group = np.unique(g["first"], return_inverse=True)
        fe_q = [q(_iso(v)) if v else "" for v in first_u.tolist()]
        scan_q = [q(_iso(v)) for v in self._scan.tolist()]
        # no first evaluation (World.no_first_evaluation: one deployment's package): changed at its last scan
        no_first = scan_q[int(w.dep_cluster[w.no_first_evaluation[0]])] if w.no_first_evaluation else ""
        statuses = [f',"status":{{"code":"Unhealthy","firstEvaluationDate":{v},"statusChangeDate":{v}}}' if v
                    else f',"status":{{"code":"Unhealthy","statusChangeDate":{no_first}}}' for v in fe_q]
        # exempt rows: code NotApplicable, cause Exempt, changed at the cluster's last scan
        exempt_rows = np.flatnonzero(exempt)
        status_key = first_of_group[row_group].astype(np.int64)
        if len(exempt_rows):
            pairs = first_of_group[row_group][exempt_rows].astype(np.int64) * w.n + c[exempt_rows]
            uniq, inv = np.unique(pairs, return_inverse=True)
            for p_ in uniq.tolist():
                fi, cc = divmod(p_, w.n)
                first = f'"firstEvaluationDate":{fe_q[fi]},' if fe_q[fi] else ""
                statuses.append(f',"status":{{"code":"NotApplicable",{first}"statusChangeDate":{scan_q[cc]},'
                                f'"cause":"Exempt","description":"Exempt"}}')
            status_key[exempt_rows] = len(fe_q) + inv
        parts = pa.table({
            "entity": entity_a, "name": column(self._recommendation_names(), g["pkg"][row_group]),
            "resourceGroup": column(w.cl_rg_lower, c), "subscriptionId": column(w.cl_sub_id, c),
            "display": _dictionary(displays, sig_rows), "status": _dictionary(statuses, status_key),
            "package": _dictionary(packages, sig_rows), "details": self._details_quoted(dep, k, g["rv"][row_group])})
        return ComposedRecords(parts, {
            "id": "entity || '/providers/Microsoft.Security/assessments/' || name", "name": "name",
            "type": sql_text(rec.ASSESSMENT), "tenantId": sql_text(self.tenant_id), "kind": "''", "location": "''",
            "resourceGroup": "resourceGroup", "subscriptionId": "subscriptionId", "managedBy": "''",
            "properties": PROPERTIES_SQL})

    def _entity_ids_flat(self) -> tuple[list[str], np.ndarray]:
        """Every (deployment, container) entity id, with the offset of each deployment's first one."""
        w = self.w
        lists = self._entity_ids()
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in lists])[:-1]]).astype(np.int64)
        flat = [f"{w.cl_find_rid[w.dep_cluster[d]]}/securityentitydata/{e}" for d, ids in enumerate(lists) for e in ids]
        return flat, offsets

    def _details_quoted(self, dep: np.ndarray, k: np.ndarray, rv: np.ndarray) -> pa.Array:
        """resourceAdditionalData (a JSON string inside properties) per row, escaped, built once per distinct value."""
        w = self.w
        key = (dep.astype(np.int64) * 64 + k) * (len(w.rv_digest) + 1) + rv
        uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        out = [rec.quote(self._workload_json(int(dep[i]), int(k[i]), int(rv[i]))) for i in first.tolist()]
        return pa.array(out, pa.string()).take(pa.array(inverse, pa.int64()))

    def _recommendation_groups(self) -> dict[str, Any] | None:
        """The month's findings grouped by (deployment, package): one individual recommendation per
        container of the deployment. ``sig`` identifies a group's set of CVE variants."""
        if "_groups" not in self.__dict__:
            self.__dict__["_groups"] = self._group_recommendations()
        return self.__dict__["_groups"]

    def _group_recommendations(self) -> dict[str, Any] | None:
        w, st = self.w, self.st
        if not len(st.key):
            return None
        f = self._finding_columns()
        pkg = w.var_pkg_id[st.variant]
        order = np.lexsort((w.cve_id[f["cve"]].astype(str), pkg, st.d))
        d, pkg_o, variant = st.d[order], pkg[order], st.variant[order]
        starts = np.flatnonzero(np.r_[True, (d[1:] != d[:-1]) | (pkg_o[1:] != pkg_o[:-1])])
        with np.errstate(over="ignore"):
            sig = np.add.reduceat(hash64(7, variant.astype(np.int64)), starts)
        ends = np.r_[starts[1:], len(variant)]
        lists = self._workload_lists()
        dep = d[starts]
        first = np.minimum.reduceat(f["first"][order], starts)
        if w.no_first_evaluation is not None:   # 0: Defender gave no firstEvaluationDate (see World)
            first[(dep == w.no_first_evaluation[0]) & (pkg_o[starts] == w.no_first_evaluation[1])] = 0
        return {"dep": dep, "pkg": pkg_o[starts], "sig": sig,
                "variants": lambda i: tuple(variant[starts[i]:ends[i]].tolist()),
                "first": first,
                "rv": w.rv_start[w.dep_repo[dep]] + st.v[order][starts], "exempt": st.exempt[order][starts],
                "containers": np.array([len(lists[x]) for x in dep.tolist()], dtype=np.int64)}

    def _recommendation_fields(self) -> Iterator[dict]:
        """The fields of every individual recommendation of the month (see records.individual_recommendation)."""
        w = self.w
        g = self._recommendation_groups()
        if g is None:
            return
        entities, names = self._entity_ids(), self._recommendation_names()
        for i, (dep, pkg, first, rv, exempt) in enumerate(zip(g["dep"].tolist(), g["pkg"].tolist(), g["first"].tolist(),
                                                              g["rv"].tolist(), g["exempt"].tolist())):
            c = int(w.dep_cluster[dep])
            pk = self._package(g["variants"](i))
            fe = _iso(first) if first else None
            for k in range(int(g["containers"][i])):
                yield dict(cluster_id=w.cl_find_rid[c], entity=entities[dep][k], name=names[pkg],
                           tenant_id=self.tenant_id, subscription_id=w.cl_sub_id[c], resource_group=w.cl_rg_lower[c],
                           display_name=pk.display, severity=pk.severity,
                           status_code="NotApplicable" if exempt else "Unhealthy",
                           status_cause="Exempt" if exempt else "", first_evaluation=fe,
                           status_change=_iso(int(self._scan[c])) if exempt or not fe else fe, software=pk.software,
                           vendor=pk.vendor, package_type=pk.package_type, fixed_version=pk.fixed,
                           detected_versions=(pk.version,), cves_details=pk.cves,
                           resource_additional_data=self._workload_json(dep, k, rv))

    @functools.cached_property
    def _scan(self) -> np.ndarray:
        """Per cluster: Defender's last scan before the as-of time (1 to 30 hours before)."""
        w = self.w
        return self.tm - ((1 + frac(w._h("scan", np.arange(w.n), self.m)) * 29) * HOUR).astype(np.int64)

    def _package(self, variants: tuple[int, ...]) -> "Package":
        """The package-level fields of an individual recommendation holding these CVE variants."""
        w = self.w
        cache = w.__dict__.setdefault("_packages", {})
        pk = cache.get(variants)
        if pk is None:
            vendor, ptype = _vendor(w.var_platform[variants[0]])
            software = w.var_pkg[variants[0]]
            pk = cache[variants] = Package(
                cves="[" + ",".join(self._cve_fragments()[x] for x in variants) + "]", vendor=vendor,
                package_type=ptype, fixed=max((w.var_fixed[x] for x in variants if w.var_fixed[x]), default=""),
                severity=max((w.cve_sev[w.var_cve[x]] for x in variants), key=lambda s: _SEVERITY_RANK.get(s, 0)),
                software=software, version=w.var_ver[variants[0]],
                display=f"{software} in running container images should be updated")
        return pk

    def _workload_json(self, dep: int, k: int, rv: int) -> str:
        """resourceAdditionalData of the k-th container of a deployment running image version rv (JSON text)."""
        w = self.w
        wl = self._workload_lists()[dep][k]
        r = int(w.dep_repo[dep])
        uri = f"{w.repo_registry[r]}/{w.repo_name[r]}:{json.loads(w.rv_tags[rv])[0]}@{w.rv_digest[rv]}"
        return rec.compact(rec.workload_details(
            cluster_name=w.cl_name[w.dep_cluster[dep]], namespace=wl["namespace"], container=wl["container"],
            controller_kind=wl["kind"], controller_name=wl["name"], image_uri=uri))

    def _cve_fragments(self) -> list[str]:
        """Each catalogue variant's CvesDetails element as compact JSON text (built once per world)."""
        w = self.w
        if getattr(w, "_cve_fragments", None) is None:
            out = []
            for x in range(w.n_var):
                ci = int(w.var_cve[x])
                sev = w.cve_sev[ci]
                out.append(rec.compact(rec.cve_detail(
                    cve_id=w.cve_id[ci], severity=sev, cvss=float(w.cve_cvss[ci]), vector=_VECTORS.get(sev, ""),
                    published=_iso(int(w.cve_pub[ci])), exploit_published=bool(w.cve_exploit[ci]),
                    exploit_verified=False, in_exploit_kit=False,
                    fix_status=w.var_status[x], fixed_version=w.var_fixed[x], description=w.cve_title[ci])))
            w._cve_fragments = out
        return w._cve_fragments

    def _entity_ids(self) -> list[list[str]]:
        """Per deployment and container: the Defender entity id of the running container (built once)."""
        w = self.w
        if getattr(w, "_entities", None) is None:
            lists = self._workload_lists()
            dep = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
            k = np.concatenate([np.arange(len(x)) for x in lists]) if lists else np.zeros(0, dtype=np.int64)
            flat = guids(w._h("entity", dep, k, 1), w._h("entity", dep, k, 2)) if len(dep) else []
            out, i = [], 0
            for x in lists:
                out.append(list(flat[i:i + len(x)]))
                i += len(x)
            w._entities = out
        return w._entities

    def _recommendation_names(self) -> list[str]:
        """Per package name: the assessment name of its individual recommendation (built once)."""
        w = self.w
        if getattr(w, "_recommendation_names", None) is None:
            ids = np.arange(len(w.pkg_names))
            w._recommendation_names = list(guids(w._h("recommendation", ids, 1), w._h("recommendation", ids, 2)))
        return w._recommendation_names

    def _workload_lists(self) -> list[list[dict]]:
        w = self.w
        if getattr(w, "_workload_lists", None) is None:
            parsed: dict[str, list[dict]] = {}
            w._workload_lists = [parsed.setdefault(text, json.loads(text)) for text in w.dep_wl]
        return w._workload_lists

    def sub_assessments(self) -> list[dict]:
        """The legacy model: one sub-assessment per finding, only before the retirement."""
        w, st = self.w, self.st
        if not w.legacy_available(self.m) or not len(st.key):
            return []
        f = self._finding_columns()
        keep = ~self.retired[f["c"]]
        workloads = self._workload_lists()
        ids = guids(w._h("sub-guid", st.key, 1), w._h("sub-guid", st.key, 2))
        scan = self._scan
        rows = []
        for i in np.flatnonzero(keep):
            c, r, cve, rv = int(f["c"][i]), int(f["r"][i]), int(f["cve"][i]), int(f["rv"][i])
            x = int(st.variant[i])
            exempt = bool(st.exempt[i])
            rows.append(rec.sub_assessment(
                assessment_id=w.cl_assess_id[c], guid=ids[i], tenant_id=self.tenant_id,
                subscription_id=w.cl_sub_id[c], resource_group=w.cl_rg_lower[c], cluster_id=w.cl_find_rid[c],
                cve_id=w.cve_id[cve], title=w.cve_title[cve], severity=w.cve_sev[cve], cvss=float(w.cve_cvss[cve]),
                published=_iso(int(w.cve_pub[cve])), exploitable=bool(w.cve_exploit[cve]),
                status_code="NotApplicable" if exempt else "Unhealthy", status_cause="Exempt" if exempt else "",
                time_generated=_iso(int(scan[c])), registry=w.repo_registry[r], repository=w.repo_name[r],
                digest=w.rv_digest[rv], tags=json.loads(w.rv_tags[rv]), package=w.var_pkg[x],
                version=w.var_ver[x], fixed_version=w.var_fixed[x], fix_status=w.var_status[x],
                os_platform="linux", os_version=w.repo_osver[r], workloads=workloads[int(st.d[i])]))
        return rows

    # ------------------------------------------------------------------ Log Analytics continuous export

    def history(self) -> tuple[list[dict], list[dict]]:
        """SecurityRecommendation rows of c609cf0f and SecurityNestedRecommendation rows of its
        sub-assessments over the workspace's retention: weekly snapshots (Sundays) and streamed changes."""
        w, m = self.w, self.m
        tm = self.tm
        w0 = tm - LA_RETENTION_DAYS * DAY
        s0_day = datetime.fromtimestamp(w0 // US, tz=timezone.utc).date()
        s0_day += timedelta(days=(6 - s0_day.weekday()) % 7)   # weekly export runs on Sundays
        s0 = to_us(datetime(s0_day.year, s0_day.month, s0_day.day, 3, 0, 0))
        if s0 < w0:
            s0 += 7 * DAY
        ma = m
        while w.t(ma - 1) >= s0:
            ma -= 1
        months = list(range(ma - 1, m + 1))
        states = [w.state(i) for i in months]
        sub_minute = (frac(w._h("export-minute", np.arange(len(w.subs)))) * 50).astype(np.int64) * 60 * US
        # One subscription's export writes RecommendationId as the bare key, the others as the full id
        # (the form is not documented; the queries read both).
        bare = w.cl_sub == len(w.subs) - 1

        # ---- findings (sub-assessment export: stops at the retirement)
        nested = self._nested_history(months, states, s0, tm, sub_minute, bare) if s0 < RETIREMENT_US else []

        # ---- clusters: weekly snapshots and streamed status changes of c609cf0f
        status = np.stack([s.status for s in states], axis=1)        # clusters x months
        retired = np.stack([w.assessment_retired(i) for i in months], axis=1)
        change_t = np.zeros(status.shape, dtype=np.int64)
        all_c = np.arange(w.n)
        for j in range(1, len(months)):
            change_t[:, j] = w._cluster_time(all_c, months[j])
        rows_t, rows_c, rows_s, rows_snap = [], [], [], []
        month_times = [int(w.t(i)) for i in months]
        for ts in np.arange(s0, tm + 1, 7 * DAY, dtype=np.int64):
            j = int(np.searchsorted(month_times, ts))   # month whose interval holds ts
            j = min(max(j, 1), len(months) - 1)
            st_now = np.where(change_t[:, j] <= ts, status[:, j], status[:, j - 1])
            sel = (st_now != "") & ~retired[:, j]
            rows_t.append(np.full(int(sel.sum()), ts) + sub_minute[w.cl_sub[sel]])
            rows_c.append(all_c[sel])
            rows_s.append(st_now[sel])
            rows_snap.append(np.ones(int(sel.sum()), dtype=bool))
        for j in range(1, len(months)):
            ch = (status[:, j] != status[:, j - 1]) & (status[:, j] != "") & ~retired[:, j]
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
        recommendations = [rec.security_recommendation(
            time=_iso(int(at[i])), tenant_id=self.tenant_id, assessed_resource_id=w.cl_assess_rid[ac[i]],
            recommendation_id=cat.ASSESSMENT_KEY if bare[ac[i]] else w.cl_assess_id[ac[i]], key=cat.ASSESSMENT_KEY,
            display_name=cat.POLICY_DISPLAY_NAME, state=ast[i], severity="High", snapshot=bool(asnap[i]),
            subscription_id=w.cl_sub_id[ac[i]]) for i in order]
        return recommendations, nested

    def recommendation_export(self) -> list[dict]:
        """SecurityRecommendation rows of the individual recommendations of the export subscription's
        clusters during this month (from the previous as-of time, or the export's start,
        ``World.export_start_us``, to this one): a weekly snapshot (Sundays) of every open
        recommendation and a streamed row whenever one turns Unhealthy (or NotApplicable) or Healthy,
        plus one package flagged and cleared again inside the month (``_transient``). The query keeps
        the rows of the report period."""
        w, m, tm = self.w, self.m, self.tm
        start = max(int(w.export_start_us), int(w.t(m - 1)))
        if tm <= start:
            return []
        months = [m - 1, m]
        states = [w.state(i) for i in months]
        in_sub = w.cl_sub == w.export_sub
        keys = unique_sorted(np.concatenate([s.key[in_sub[w.dep_cluster[s.d]]] for s in states]))
        if not len(keys):
            return []
        present = np.zeros((len(keys), len(months)), dtype=bool)
        for j, s in enumerate(states):
            if len(s.key):
                pos = np.minimum(np.searchsorted(s.key, keys), len(s.key) - 1)
                present[:, j] = s.key[pos] == keys
        flip_t = np.zeros(present.shape, dtype=np.int64)
        for j in range(1, len(months)):
            flips = present[:, j] != present[:, j - 1]
            if flips.any():
                flip_t[flips, j] = w._finding_time(keys[flips], months[j], states[j - 1], states[j])
        d, v, variant = w._unkey(keys)
        pkg = w.var_pkg_id[variant]
        group = d.astype(np.int64) * len(w.pkg_names) + pkg        # one recommendation per container
        exempt = w._exempt(d, variant)
        month_times = [int(w.t(i)) for i in months]
        events: list[tuple[int, int, bool, str, np.ndarray]] = []  # (time, group, snapshot, state, key rows)

        def groups_of(rows: np.ndarray):
            if not len(rows):
                return []
            order = rows[np.lexsort((w.cve_id[w.var_cve[variant[rows]]].astype(str), group[rows]))]
            cuts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
            return zip(group[order][cuts].tolist(), np.split(order, cuts[1:]))

        first_sunday = datetime.fromtimestamp(start // US, tz=timezone.utc).date()
        first_sunday += timedelta(days=(6 - first_sunday.weekday()) % 7)
        s0 = to_us(datetime(first_sunday.year, first_sunday.month, first_sunday.day, 3, 0, 0))
        if s0 <= start:
            s0 += 7 * DAY
        minute = self._export_minute
        for ts in range(s0, tm + 1, 7 * DAY):                         # weekly snapshots
            j = min(max(int(np.searchsorted(month_times, ts)), 1), len(months) - 1)
            now = np.where((flip_t[:, j] > 0) & (flip_t[:, j] <= ts), present[:, j], present[:, j - 1])
            for g, rows in groups_of(np.flatnonzero(now)):
                events.append((ts + minute, g, True, "NotApplicable" if exempt[rows[0]] else "Unhealthy", rows))
        for j in range(1, len(months)):                               # streamed changes of state
            before, after = set(group[present[:, j - 1]].tolist()), set(group[present[:, j]].tolist())
            for gone, rows_all in ((False, np.flatnonzero(present[:, j] & ~np.isin(group, list(before)))),
                                   (True, np.flatnonzero(present[:, j - 1] & ~np.isin(group, list(after))))):
                for g, rows in groups_of(rows_all):
                    # flagged when its first CVE appeared; Healthy when its last one went
                    t = int(flip_t[rows, j].max() if gone else flip_t[rows, j].min())
                    if start < t <= tm:
                        events.append((t, g, False, "Healthy" if gone else (
                            "NotApplicable" if exempt[rows[0]] else "Unhealthy"), rows))
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        rows_out = [r for e in events for r in self._export_rows(e[0], e[2], e[3], d[e[4][0]], v[e[4][0]],
                                                                 tuple(variant[e[4]].tolist()))]
        return rows_out + self._transient(months, states, start, tm, s0)

    @functools.cached_property
    def _export_minute(self) -> int:
        """The weekly export's minute past 03:00 on Sundays for the export subscription."""
        return int(frac(self.w._h("export-minute", np.array([self.w.export_sub])))[0] * 50) * 60 * US

    def _export_rows(self, t: int, snapshot: bool, state: str, dep: int, ver: int,
                     variants: tuple[int, ...]) -> Iterator[dict]:
        """One export row per container of a deployment for one package (the CVE variants it has)."""
        w = self.w
        dep = int(dep)
        c = int(w.dep_cluster[dep])
        pkg = int(w.var_pkg_id[variants[0]])
        pk = self._package(variants)
        first = self._current_first.get((dep, pkg))
        fe = _iso(first) if first else None
        rv = int(w.rv_start[w.dep_repo[dep]] + ver)
        workloads = self.__dict__.setdefault("_export_workloads", {})
        for k, entity in enumerate(self._entity_ids()[dep]):
            details = workloads.get((dep, k, rv))
            if details is None:
                details = workloads[(dep, k, rv)] = self._workload_json(dep, k, rv)
            assessment = rec.individual_recommendation(
                cluster_id=w.cl_find_rid[c], entity=entity, name=self._recommendation_names()[pkg],
                tenant_id=self.tenant_id, subscription_id=w.cl_sub_id[c], resource_group=w.cl_rg_lower[c],
                display_name=pk.display, severity=pk.severity, status_code=state,
                status_cause="Exempt" if state == "NotApplicable" else "",
                first_evaluation=fe, status_change=fe or _iso(t), software=pk.software, vendor=pk.vendor,
                package_type=pk.package_type, fixed_version=pk.fixed, detected_versions=(pk.version,),
                cves_details=pk.cves, resource_additional_data=details)
            yield rec.individual_recommendation_export(
                assessment, time=_iso(t), state=state, snapshot=snapshot, first_evaluation=fe,
                status_change=_iso(t) if not snapshot else fe)

    @functools.cached_property
    def _current_first(self) -> dict[tuple[int, int], int]:
        """(deployment, package) -> Defender's first evaluation in this month's records (0: none given)."""
        g = self._recommendation_groups()
        if g is None:
            return {}
        sel = self.w.cl_sub[self.w.dep_cluster[g["dep"]]] == self.w.export_sub
        return {(d, p): f for d, p, f in zip(g["dep"][sel].tolist(), g["pkg"][sel].tolist(), g["first"][sel].tolist())}

    def _transient(self, months: list[int], states: list, start: int, tm: int, s0: int) -> list[dict]:
        """A package flagged after the export's start and cleared again before the as-of time, on a
        container of the export subscription whose image did not change: open and closed inside the
        month, it is in neither the previous snapshot nor the current one (a vulnerability-data
        correction cleared at a later scan; the image digest stays the same)."""
        w = self.w
        prev, cur = states
        lo, hi = start + 5 * DAY, tm - 12 * DAY
        if hi <= lo + 3 * DAY:
            return []
        same = (prev.dep_ver == cur.dep_ver) & prev.dep_alive & cur.dep_alive \
            & (w.cl_sub[w.dep_cluster] == w.export_sub) & (w.dep_cluster != w.exempt)
        deps = np.intersect1d(np.flatnonzero(same), cur.d)          # a digest the findings name
        for dep in deps[np.argsort(frac(w._h("transient", deps, self.m)), kind="stable")].tolist():
            repo = w.repos[int(w.dep_repo[dep])]
            held = set(w.var_pkg_id[prev.variant[prev.d == dep]].tolist()) | \
                set(w.var_pkg_id[cur.variant[cur.d == dep]].tolist())
            cand = np.flatnonzero(np.isin(w.var_platform, [repo["os"], *repo["langs"]])
                                  & (w.cve_pub[w.var_cve] <= start - 30 * DAY)
                                  & ~np.isin(w.var_pkg_id, list(held)))
            cand = cand[~w._exempt(np.full(len(cand), dep), cand)]
            if not len(cand):
                continue
            x = int(cand[np.argmin(frac(w._h("transient-variant", dep, cand, self.m)))])
            h = frac(w._h("transient-time", dep, np.arange(2), self.m))
            t1 = lo + int(h[0] * 3 * DAY)
            t2 = t1 + 3 * DAY + int(h[1] * (hi - t1 - 3 * DAY))
            ver = int(cur.dep_ver[dep])
            rows = [*self._export_rows(t1, False, "Unhealthy", dep, ver, (x,))]
            for t in range(s0 + self._export_minute, t2, 7 * DAY):    # the weekly snapshots while it is open
                if t > t1:
                    rows += self._export_rows(t, True, "Unhealthy", dep, ver, (x,))
            rows += self._export_rows(t2, False, "Healthy", dep, ver, (x,))
            for r in rows:
                r["StatusChangeDate"] = _iso(t2) if r["RecommendationState"] == "Healthy" else _iso(t1)
                r["FirstEvaluationDate"] = _iso(t1)
                r["Properties"]["status"] = {"code": r["RecommendationState"], "firstEvaluationDate": _iso(t1),
                                             "statusChangeDate": r["StatusChangeDate"]}
            return rows
        return []

    def _nested_history(self, months: list[int], states: list, s0: int, tm: int, sub_minute: np.ndarray,
                        bare: np.ndarray) -> list[dict]:
        """SecurityNestedRecommendation rows: weekly snapshots of every open finding and streamed changes."""
        w = self.w
        keys = unique_sorted(np.concatenate([s.key for s in states]))
        present = np.zeros((len(keys), len(months)), dtype=bool)
        for j, s in enumerate(states):
            pos = np.minimum(np.searchsorted(s.key, keys), max(len(s.key) - 1, 0))
            present[:, j] = (s.key[pos] == keys) if len(s.key) else False
        d, _, variant = w._unkey(keys)
        exempt = w._exempt(d, variant)
        # when each finding's presence flipped during each month (0 where it did not)
        flip_t = np.zeros(present.shape, dtype=np.int64)
        for j in range(1, len(months)):
            flips = present[:, j] != present[:, j - 1]
            if flips.any():
                flip_t[flips, j] = w._finding_time(keys[flips], months[j], states[j - 1], states[j])
        month_times = [int(w.t(i)) for i in months]
        ev_key, ev_time, ev_state, ev_snap = [], [], [], []
        for ts in np.arange(s0, tm + 1, 7 * DAY, dtype=np.int64):   # weekly snapshots: every open finding
            j = min(max(int(np.searchsorted(month_times, ts)), 1), len(months) - 1)
            now = np.where((flip_t[:, j] > 0) & (flip_t[:, j] <= ts), present[:, j], present[:, j - 1])
            ev_key.append(keys[now])
            ev_time.append(np.full(int(now.sum()), ts))
            ev_state.append(np.where(exempt[now], "NotApplicable", "Unhealthy"))
            ev_snap.append(np.ones(int(now.sum()), dtype=bool))
        for j in range(1, len(months)):                               # streamed changes
            flips = present[:, j] != present[:, j - 1]
            t = flip_t[flips, j]
            keep = (t > s0) & (t <= tm)
            ev_key.append(keys[flips][keep])
            ev_time.append(t[keep])
            ev_state.append(np.where(present[flips, j][keep], np.where(exempt[flips][keep], "NotApplicable",
                                                                       "Unhealthy"), "Healthy"))
            ev_snap.append(np.zeros(int(keep.sum()), dtype=bool))
        fk = np.concatenate(ev_key)
        ft = np.concatenate(ev_time)
        fs = np.concatenate(ev_state).astype(object)
        fsnap = np.concatenate(ev_snap)
        fd, fv, fvar = w._unkey(fk)
        fc = w.dep_cluster[fd]
        ft = np.where(fsnap, ft + sub_minute[w.cl_sub[fc]], ft)
        order = np.lexsort((fk, ft))
        order = order[ft[order] < RETIREMENT_US]   # the export stopped with the sub-assessments
        nested = []
        ids = dict(zip(order.tolist(), guids(w._h("sub-guid", fk[order], 1), w._h("sub-guid", fk[order], 2))))
        for i in order.tolist():
            c = int(fc[i])
            rv = w.rv_start[w.dep_repo[fd[i]]] + fv[i]
            assessment_id = w.cl_assess_id[c]
            cve = w.var_cve[fvar[i]]
            nested.append(rec.security_nested_recommendation(
                time=_iso(int(ft[i])), tenant_id=self.tenant_id, assessed_resource_id=w.cl_find_rid[c],
                id=f"{assessment_id}/subassessments/{ids[i]}",
                parent_id=cat.ASSESSMENT_KEY if bare[c] else assessment_id, cve_id=w.cve_id[cve], state=fs[i],
                severity=w.cve_sev[cve], snapshot=bool(fsnap[i]), digest=w.rv_digest[rv],
                repository=w.repo_name[w.dep_repo[fd[i]]], package=w.var_pkg[fvar[i]],
                subscription_id=w.cl_sub_id[c]))

        return nested
