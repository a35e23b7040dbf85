"""Tenants for the emulator: raw Azure records to serve, and the snapshot a person says they must give.

A ``Tenant`` holds what Azure would hold (the raw rows of Resource Graph's tables and of the
workspace's continuous-export tables, made with ``reportgen.collect.sample.records``) and,
independently, the **expected** snapshot frames. The emulator executes the real query files
over the records; the collection tests compare what the real SDK clients collected with the
expected frames, so a query that reads a wrong property path fails them.

``tiny_tenant()`` is written by hand. Its facts (clusters, images, packages, CVEs,
containers, history) are listed once below; ``_records`` turns them into raw records and
``_expected`` writes, from the same facts and field by field, the rows each dataset must
contain: that is where Kusto's rules are spelled out (``tostring`` of a missing value is
``""``, ``coalesce`` skips empty strings, timestamps keep microseconds, Resource Graph expands
at most 400 CVEs of a package). Awkward values on purpose: quotes, markup and non-ASCII in
tags and texts, null and empty tags, missing scores and dates, several containers per
workload, 7-digit fractional seconds, a package listing more than 400 CVEs, images without a
registry or a tag, three subscriptions (batches and scope), findings delivered by the legacy
sub-assessments and by the individual recommendations (some by both), records every query
must leave out, and history rows naming the assessment by its bare key and by its ARM id.

``sample_tenant(clusters)`` serves the built-in sample tenant's raw records
(``reportgen.collect.sample.raw_records``); its expected frames are what
``reportgen.collect.sample.generate`` collects from them with the embedded engine.
"""

from __future__ import annotations

import functools
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import pyarrow as pa

from reportgen.collect.frames import canonical_json
from reportgen.collect.sample import records as rec
from reportgen.snapshot import DATASETS, OPTIONAL_COLUMNS, coerce_frame, write_snapshot

KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"            # the running-images assessment (policy 17f4b1cc)
REGISTRY_KEY = "c0b7cfc6-3172-465a-b378-53c7ff2cc0d5"   # the registry-images assessment: never collected
OTHER_KEY = "1f655fb7-63ca-4980-91a3-56dbc2b715c6"      # an unrelated assessment: never collected
POLICY = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
OTHER_POLICY = "/providers/Microsoft.Authorization/policyDefinitions/090c7b07-b4ed-4561-ad20-e9075f3ccaff"
POLICY_SET = "/providers/Microsoft.Authorization/policySetDefinitions/1f3afdf9-d0c9-4c3d-847f-89da613e70a8"
REFERENCE = "kubernetesRunningImagesVulnerabilityMDVMAssessment"
GROUPS = ["Azure_Security_Benchmark_v3.0_PV-6", "Azure_Security_Benchmark_v3.0_DS-6"]
STANDARD = "Microsoft-cloud-security-benchmark"
TENANT_ID = "5f0e3c2a-8d4b-4e6f-9a1b-2c3d4e5f6a7b"
AS_OF = pd.Timestamp("2026-10-20T06:00:00Z")
PERIOD = (date(2026, 10, 1), date(2026, 10, 31))
MV_EXPAND_LIMIT = 400
_NS = uuid.UUID("0b5e8d52-3f5c-4a0e-8a43-7d7f1e9c2b10")


def guid(*parts: Any) -> str:
    return str(uuid.uuid5(_NS, "/".join(map(str, parts))))


def subscription_ids(n: int) -> list[str]:
    return [f"00000000-0000-0000-0000-{i:012x}" for i in range(1, n + 1)]


def ts(text: str | None) -> str | None:
    """A timestamp as the snapshot keeps it: microseconds (Azure's seventh digit is dropped)."""
    if not isinstance(text, str):
        return None
    head, dot, rest = text.rstrip("Z").partition(".")
    return f"{head}.{rest[:6]}Z" if dot else f"{head}Z"


# ---------------------------------------------------------------------------- the tenant value

@dataclass
class Tenant:
    """Raw records to serve and the snapshot frames they must give."""

    name: str
    resource_graph: Mapping[str, Sequence[Mapping[str, Any]] | pa.Table]
    log_analytics: Mapping[str, Sequence[Mapping[str, Any]] | pa.Table]
    subscriptions: tuple[str, ...]
    expected_factory: Callable[[], dict[str, pd.DataFrame]]
    management_groups: Mapping[str, Sequence[str]] = field(default_factory=dict)
    expected_gaps: list = field(default_factory=list)   # snapshot.json gaps the expected snapshot has

    @functools.cached_property
    def expected(self) -> dict[str, pd.DataFrame]:
        return self.expected_factory()

    @functools.cached_property
    def stores(self):
        """The records as ``RecordStore``s (built once, shared by every emulator serving this tenant)."""
        from reportgen.kql.catalog import load_tables
        from tests.emulator.server import SharedResults, _store
        schemas = load_tables()
        return (SharedResults(_store(self.resource_graph, schemas["resource_graph"])),
                SharedResults(_store(self.log_analytics, schemas["log_analytics"])))

    def emulator(self, **kwargs: Any):
        from tests.emulator.server import AzureEmulator
        resource_graph, log_analytics = self.stores
        kwargs.setdefault("management_groups", self.management_groups)
        return AzureEmulator(resource_graph, log_analytics, **kwargs)


def frames_from_rows(rows: Mapping[str, list[dict]]) -> dict[str, pd.DataFrame]:
    """Expected rows (JSON values as Python objects, times as ISO text) -> typed snapshot frames."""
    out = {}
    for name in DATASETS:
        optional = [c for c in OPTIONAL_COLUMNS.get(name, {}) if any(c in r for r in rows.get(name, []))]
        columns = list(DATASETS[name]) + optional
        kinds = {**DATASETS[name], **OPTIONAL_COLUMNS.get(name, {})}
        data = [{c: (canonical_json(r.get(c)) if kinds[c] == "json" and r.get(c) is not None else r.get(c))
                 for c in columns} for r in rows.get(name, [])]
        frame = pd.DataFrame(data, columns=columns)
        for c in columns:
            if kinds[c] == "ts":
                frame[c] = frame[c].map(ts)
        out[name] = coerce_frame(name, frame, origin=f"expected {name}")
    return out


# ---------------------------------------------------------------------------- the facts

@dataclass(frozen=True)
class Cve:
    id: str
    severity: str                 # "" = not given: the recommendation's severity applies
    cvss: float | None
    published: str | None
    description: str
    fix_status: str = "FixAvailable"   # "" = not given
    fixed_version: str = ""
    exploit_published: bool = False
    exploit_verified: bool = False
    in_exploit_kit: bool = False

    @property
    def exploitable(self) -> bool:
        return self.exploit_published or self.exploit_verified or self.in_exploit_kit

    def fix(self, package: "Package") -> tuple[str, str]:
        """(fix status, fixed version) of this CVE in ``package``: the CVE's own when it states a fix
        status, else the package's (a fixed version means a fix is available)."""
        if self.fix_status:
            return self.fix_status, self.fixed_version
        return ("FixAvailable" if package.fixed_version else "NoFixAvailable"), package.fixed_version


@dataclass(frozen=True)
class Package:
    name: str
    vendor: str
    type: str
    versions: tuple[str, ...]
    fixed_version: str
    severity: str                 # the recommendation's own (metadata.severity)
    cves: tuple[Cve, ...]
    os: tuple[str, str] = ("linux", "ubuntu_linux_22.04")


@dataclass(frozen=True)
class Image:
    uri: str                      # as Defender reports it in resourceAdditionalData
    registry: str                 # what the split must give
    repository: str
    tag: str | None
    digest: str
    legacy_tags: tuple[str, ...]  # what the legacy artifactDetails list


@dataclass(frozen=True)
class Container:
    namespace: str
    kind: str
    name: str
    container: str

    def flat(self) -> dict:
        return {"container": self.container, "kind": self.kind, "name": self.name, "namespace": self.namespace}

    def as_record(self) -> dict:
        return {"namespace": self.namespace, "kind": self.kind, "name": self.name, "container": self.container}


@dataclass(frozen=True)
class Cluster:
    si: int
    ci: int
    sub: str
    rg: str                       # the resource group's own casing
    location: str
    tags: Mapping[str, str] | None

    @property
    def name(self) -> str:
        return f"aks-{self.si}-{self.ci}"

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/Microsoft.ContainerService/managedClusters/{self.name}"

    @property
    def assessment_id(self) -> str:
        return f"{self.id}/providers/Microsoft.Security/assessments/{KEY}"


@dataclass(frozen=True)
class Individual:
    """One individual recommendation: one vulnerable package in one running container."""

    cluster: Cluster
    container: Container
    image: Image
    package: Package
    status: str = "Unhealthy"
    cause: str = ""
    first_evaluation: str = "2026-06-01T09:00:00.1234567Z"
    status_change: str = "2026-10-18T07:30:00Z"

    @property
    def name(self) -> str:
        return guid("rec", self.cluster.id, self.container.container, self.package.name)

    @property
    def entity(self) -> str:
        return guid("entity", self.cluster.id, self.container.namespace, self.container.name, self.container.container)

    @property
    def id(self) -> str:
        return f"{self.cluster.id}/securityentitydata/{self.entity}/providers/Microsoft.Security/assessments/{self.name}"

    @property
    def display_name(self) -> str:
        return f"{self.package.name} should be updated to resolve its vulnerabilities"


@dataclass(frozen=True)
class Legacy:
    """One legacy sub-assessment: one CVE of one package in one image on a cluster."""

    cluster: Cluster
    image: Image
    package: Package
    cve: Cve
    workloads: tuple[Container, ...]
    status: str = "Unhealthy"
    cause: str = ""
    time_generated: str = "2026-10-19T12:00:15.0772799Z"

    @property
    def guid(self) -> str:
        return guid("sub", self.cluster.id, self.image.digest, self.package.name, self.cve.id)

    @property
    def id(self) -> str:
        return f"{self.cluster.assessment_id}/subassessments/{self.guid}"


SUBS = tuple(subscription_ids(3))
SUB_TAGS: list[Mapping[str, str] | None] = [{"Owner": "team-0@contoso.com"},
                                            {"owner": "Ünïcode Team <ops@contoso.com>"}, None]
RG_TAGS: dict[tuple[int, int], Mapping[str, str] | None] = {
    (si, 0): {"owner": "Zoë \"quotes\" O'Brien", "cost-center": "=1+2"} for si in range(3)} | {
    (0, 1): None, (1, 1): None, (2, 1): {}}
CLUSTERS = {(si, ci): Cluster(si, ci, sub, f"rg-AKS-{ci}", ("westeurope", "northeurope")[ci],
                              {"env": "prod", "owner": f"squad-{si}"} if ci else None)
            for si, sub in enumerate(SUBS) for ci in range(2)}
# Defender's running-images assessment per cluster (aks-2-1 has none: "not assessed").
ASSESSMENT_STATUS = {(0, 0): ("Unhealthy", ""), (0, 1): ("Healthy", ""), (1, 0): ("Unhealthy", ""),
                     (1, 1): ("NotApplicable", "Exempt"), (2, 0): ("Unhealthy", "")}
POLICY_STATE = {(0, 0): "NonCompliant", (0, 1): "Compliant", (1, 0): "NonCompliant", (1, 1): "Compliant",
                (2, 0): "NonCompliant", (2, 1): "Exempt"}

C1 = Cve("CVE-2026-1001", "Critical", 9.8, "2026-03-14T00:00:00Z", 'Heap overflow in libssl3 – "quoted" ‹Zoë›',
         fixed_version="3.0.2-0ubuntu1.12", exploit_published=True)
C2 = Cve("CVE-2026-1002", "High", None, None, "", fix_status="NoFixAvailable")   # although its package has a fix
C3 = Cve("CVE-2026-1003", "Medium", 5.3, "2025-12-01T08:15:30.1234567Z", "zlib: inflate out-of-bounds read <script>",
         fix_status="NoFixAvailable")
C4 = Cve("CVE-2026-1004", "", 3.1, "2026-01-20T00:00:00Z", "zlib: deflate stack exhaustion", fix_status="")
C5 = Cve("CVE-2026-1005", "high", 7.5, "2026-02-02T00:00:00Z", "net/http: HTTP/2 rapid reset", fixed_version="v0.23.0",
         in_exploit_kit=True)
C6 = Cve("CVE-2026-1006", "Medium", 6.1, "2026-04-01T00:00:00Z", "nginx: resolver off-by-one", fixed_version="1.25.4",
         exploit_verified=True)
C7 = Cve("CVE-2026-1007", "Low", 2.0, "2026-05-05T00:00:00Z", "busybox: awk use-after-free", fixed_version="1.36.1-r5")
KERNEL_CVES = tuple(Cve(f"CVE-2025-{30000 + i}", "Low", None, None, f"linux: kernel issue {i}",
                        fix_status="NoFixAvailable") for i in range(MV_EXPAND_LIMIT + 3))

SSL = Package("libssl3", "canonical", "deb", ("3.0.2-0ubuntu1.10",), "3.0.2-0ubuntu1.12", "High", (C1, C2))
ZLIB = Package("zlib1g", "canonical", "deb", ("1:1.2.13.dfsg-1ubuntu1",), "", "Low", (C3, C4))
NET = Package("golang.org/x/net", "golang", "golang", ("v0.17.0", "v0.18.0"), "v0.23.0", "High", (C5,), os=("", ""))
NGINX = Package("nginx", "debian", "deb", ("1.25.3-1~bookworm",), "1.25.4", "Medium", (C6,),
                os=("linux", "debian_12"))
BUSYBOX = Package("busybox", "alpine", "apk", ("1.36.1-r2",), "1.36.1-r5", "Low", (C7,), os=("linux", "alpine_3.19"))
KERNEL = Package("linux-libc-dev", "canonical", "deb", ("5.15.0-91.101",), "", "Low", KERNEL_CVES)

API, SIDECAR = Container("payments", "Deployment", "api", "api"), Container("payments", "Deployment", "api", "sidecar")
JOB, WEB = Container("batch", "CronJob", "nightly", "job"), Container("web", "Deployment", "frontend", "nginx")


def _digest(n: int) -> str:
    return f"sha256:{n:064x}"


def api_image(ci: int, n: int) -> Image:
    return Image(f"contoso.azurecr.io/payments/api{ci}:1.4.2@{_digest(n)}", "contoso.azurecr.io", f"payments/api{ci}",
                 "1.4.2", _digest(n), ("1.4.2", "latest"))


NGINX_IMAGE = Image(f"nginx:1.25.3@{_digest(0xBEEF)}", "", "nginx", "1.25.3", _digest(0xBEEF), ("1.25.3",))
JOB_IMAGE = Image(f"localhost:5000/tools/nightly@{_digest(0xC0FFEE)}", "localhost:5000", "tools/nightly", None,
                  _digest(0xC0FFEE), ())

# aks-0-0: both sources, three containers running one image; aks-1-0: individual recommendations only,
# with a package of 403 CVEs and an image without a registry; aks-2-0: legacy only; aks-0-1: a Healthy
# recommendation on an image without a tag; aks-1-1: an exempt one; aks-2-1 (not assessed): one package.
_IMG = {(0, 0): api_image(0, 0x00), (1, 0): api_image(0, 0x10), (2, 0): api_image(0, 0x20), (1, 1): api_image(1, 0x11),
        (2, 1): api_image(1, 0x21)}
INDIVIDUALS = (
    [Individual(CLUSTERS[0, 0], c, _IMG[0, 0], p, *(("NotApplicable", "Exempt") if (c, p) == (JOB, ZLIB) else ()))
     for c in (API, SIDECAR, JOB) for p in (SSL, ZLIB, NET)]
    + [Individual(CLUSTERS[1, 0], API, _IMG[1, 0], SSL, first_evaluation="2026-09-30T23:59:59.9999999Z"),
       Individual(CLUSTERS[1, 0], API, _IMG[1, 0], KERNEL),
       Individual(CLUSTERS[1, 0], WEB, NGINX_IMAGE, NGINX, status_change="2026-10-19T01:02:03.4567891Z"),
       Individual(CLUSTERS[0, 1], JOB, JOB_IMAGE, BUSYBOX, "Healthy"),
       Individual(CLUSTERS[1, 1], API, _IMG[1, 1], SSL, "NotApplicable", "Exempt"),
       Individual(CLUSTERS[2, 1], API, _IMG[2, 1], ZLIB)])
LEGACIES = (
    [Legacy(CLUSTERS[0, 0], _IMG[0, 0], p, cve, (API, SIDECAR, JOB),
            *(("NotApplicable", "Exempt") if cve is C4 else ()))
     for p in (SSL, ZLIB, NET) for cve in p.cves]
    + [Legacy(CLUSTERS[2, 0], _IMG[2, 0], p, cve, (API, SIDECAR), time_generated=f"2026-10-1{i}T08:00:00.5Z")
       for i, (p, cve) in enumerate((p, cve) for p in (SSL, ZLIB) for cve in p.cves)])


@dataclass(frozen=True)
class History:
    time: str
    cluster: Cluster
    state: str
    snapshot: bool
    by_arm_id: bool               # RecommendationId / ParentRecommendationId as the full ARM id, else the bare key
    key: str = KEY
    cve: Cve = C1
    package: Package = SSL
    subscription_column: bool = True  # _SubscriptionId filled in (else taken from AssessedResourceId)
    software_name_only: bool = False  # AdditionalData.SoftwareName instead of softwareDetails.packageName

    @property
    def in_period(self) -> bool:
        return self.time >= "2026-10-01" and self.time < "2026-11-01" and self.key == KEY


RECOMMENDATION_HISTORY = [
    History(f"2026-10-{1 + 2 * i:02d}T04:00:00.5000001Z", CLUSTERS[i % 3, 0], ("Healthy", "Unhealthy")[i % 3 != 0],
            i % 2 == 0, by_arm_id=i % 2 == 1, subscription_column=i != 3) for i in range(8)
] + [History("2026-09-28T04:00:00Z", CLUSTERS[0, 0], "Unhealthy", True, False),          # before the period
     History("2026-10-05T04:00:00Z", CLUSTERS[0, 0], "Unhealthy", True, False, key=OTHER_KEY)]
NESTED_HISTORY = [
    History(f"2026-10-{2 + 3 * i:02d}T05:00:00Z", CLUSTERS[((0, 0), (2, 0))[i % 2]], "Unhealthy", i % 2 == 1,
            by_arm_id=i % 3 == 0, cve=(C1, C3, C2, C4, C1, C2)[i], package=(SSL, ZLIB, SSL, ZLIB, SSL, SSL)[i],
            software_name_only=i == 1) for i in range(6)
] + [History("2026-09-30T23:59:59.9999999Z", CLUSTERS[0, 0], "Unhealthy", False, True),   # before the period
     History("2026-10-06T05:00:00Z", CLUSTERS[0, 0], "Unhealthy", False, True, key=REGISTRY_KEY)]
MANAGEMENT_GROUPS = {"mg-platform": list(SUBS[:2])}


# Continuous export of individual recommendations (SecurityRecommendation), as finding_history's second
# query reads them: (time, INDIVIDUALS index, state, IsSnapshot, variant). Variants: "entity" (the
# assessed resource is the container's security entity), "cluster-id" (it is the cluster: the cluster
# comes from RecommendationId), "camelCase" (resourceDetails keys as the export sample writes them),
# "registry" (a registry image: left out), "before" (before the period: left out).
INDIVIDUAL_HISTORY = [
    ("2026-10-05T03:00:00.1234567Z", 1, "Unhealthy", True, "entity"),
    ("2026-10-12T08:15:00Z", 1, "Healthy", False, "camelCase"),
    ("2026-10-07T03:00:00Z", 9, "Unhealthy", True, "cluster-id"),
    ("2026-10-09T11:00:00Z", 14, "Unhealthy", False, "registry"),
    ("2026-09-20T03:00:00Z", 14, "Unhealthy", True, "before"),
]


def _in_period(time: str) -> bool:
    return PERIOD[0].isoformat() <= time[:10] <= PERIOD[1].isoformat()


def _individual_export(time: str, r: "Individual", state: str, snapshot: bool, variant: str) -> dict:
    record = _individual_record(r)
    properties = dict(record["properties"])
    additional = properties.pop("additionalData")
    if variant == "camelCase":
        properties["resourceDetails"] = {k[0].lower() + k[1:]: v for k, v in properties["resourceDetails"].items()}
    if variant == "registry":
        properties["resourceDetails"] = dict(properties["resourceDetails"], ResourceType=".containerimage")
    assessed = r.cluster.id if variant == "cluster-id" else r.id.split("/providers/Microsoft.Security/assessments/")[0]
    return {"TenantId": TENANT_ID, "TimeGenerated": time, "AssessedResourceId": assessed, "RecommendationId": r.id,
            "RecommendationName": r.name, "RecommendationDisplayName": r.display_name, "RecommendationState": state,
            "RecommendationSeverity": r.package.severity, "IsSnapshot": snapshot, "Properties": properties,
            "RecommendationAdditionalData": additional, "Type": "SecurityRecommendation",
            "_SubscriptionId": r.cluster.sub, "_ResourceId": assessed}


# ---------------------------------------------------------------------------- facts -> raw records

def _cves_details(package: Package) -> str:
    return rec.compact([rec.cve_detail(cve_id=c.id, severity=c.severity, cvss=c.cvss,
                                       vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", published=c.published,
                                       exploit_published=c.exploit_published, exploit_verified=c.exploit_verified,
                                       in_exploit_kit=c.in_exploit_kit, fix_status=c.fix_status,
                                       fixed_version=c.fixed_version, description=c.description)
                        for c in package.cves])


def _individual_record(r: Individual) -> dict:
    c = r.cluster
    return rec.individual_recommendation(
        cluster_id=c.id, entity=r.entity, name=r.name, tenant_id=TENANT_ID, subscription_id=c.sub, resource_group=c.rg,
        display_name=r.display_name, severity=r.package.severity, status_code=r.status, status_cause=r.cause,
        first_evaluation=r.first_evaluation, status_change=r.status_change, software=r.package.name,
        vendor=r.package.vendor, package_type=r.package.type, fixed_version=r.package.fixed_version,
        detected_versions=r.package.versions, cves_details=_cves_details(r.package),
        resource_additional_data=rec.compact(rec.workload_details(
            cluster_name=c.name, namespace=r.container.namespace, container=r.container.container,
            controller_kind=r.container.kind, controller_name=r.container.name, image_uri=r.image.uri)))


def _legacy_record(s: Legacy, assessment_id: str | None = None) -> dict:
    c, p, cve = s.cluster, s.package, s.cve
    return rec.sub_assessment(
        assessment_id=assessment_id or c.assessment_id, guid=s.guid, tenant_id=TENANT_ID, subscription_id=c.sub,
        resource_group=c.rg, cluster_id=c.id, cve_id=cve.id, title=cve.description, severity=cve.severity,
        cvss=cve.cvss, published=cve.published, exploitable=cve.exploit_published, status_code=s.status,
        status_cause=s.cause, time_generated=s.time_generated, registry=s.image.registry,
        repository=s.image.repository, digest=s.image.digest, tags=s.image.legacy_tags, package=p.name,
        version=p.versions[0], fixed_version=cve.fix(p)[1], fix_status=cve.fix(p)[0],
        os_platform=p.os[0], os_version=p.os[1], workloads=[w.as_record() for w in s.workloads])


# Per subscription: the exemption's metadata (approval keys in several spellings, other keys, none at
# all) and its ARM systemData (absent for the last one, as for an exemption Resource Graph has no
# systemData for).
EXEMPTION_METADATA = (
    {"approvedBy": "Ciso@Contoso.com", "requestedBy": "team-a@contoso.com", "ticket": "CHG-1000",
     "riskScore": 7, "notes": {"review": "quarterly"}},
    {"Approver": "risk-board@contoso.com", "TicketNumber": "CHG-1001", "pacOwnerId": "f2ce1aea-1111"},
    {},
)
EXEMPTION_SYSTEM_DATA = (
    {"createdBy": "alice@contoso.com", "createdByType": "User", "createdAt": "2026-09-01T10:00:00.1234567Z",
     "lastModifiedBy": "c0ffee00-0000-4000-8000-000000000001", "lastModifiedByType": "Application",
     "lastModifiedAt": "2026-10-02T09:30:00Z"},
    {"createdBy": "bob@contoso.com", "createdByType": "User", "createdAt": "2026-08-15T00:00:00Z",
     "lastModifiedBy": "bob@contoso.com", "lastModifiedByType": "User", "lastModifiedAt": "2026-08-15T00:00:00Z"},
    None,
)


def _records() -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    t = TENANT_ID
    resources, containers, policy, security = [], [], [], []
    for si, sub in enumerate(SUBS):
        containers.append(rec.subscription(sub, f"Contoso Prod {si} – “EU”", tenant_id=t, tags=SUB_TAGS[si]))
        for ci in range(2):
            c = CLUSTERS[si, ci]
            containers.append(rec.resource_group(sub, c.rg, tenant_id=t, location=c.location, tags=RG_TAGS[si, ci]))
            resources.append(rec.managed_cluster(c.id, tenant_id=t, subscription_id=sub, resource_group=c.rg,
                                                 location=c.location, tags=c.tags))
            assignment = f"/subscriptions/{sub}/providers/microsoft.authorization/policyassignments/securitycenterbuiltin"
            policy.append(rec.policy_state(
                name=f"{si}{ci}a1b2c3d4e5f6", resource_id=c.id.lower(),
                resource_type="Microsoft.ContainerService/managedClusters", resource_location=c.location,
                tenant_id=t, subscription_id=sub, resource_group=c.rg.lower(), compliance_state=POLICY_STATE[si, ci],
                assignment_id=assignment, assignment_name="SecurityCenterBuiltIn", definition_id=POLICY,
                reference_id=REFERENCE, group_names=GROUPS, set_definition_id=POLICY_SET,
                timestamp="2026-10-19T23:10:05.1234567Z"))
            if (si, ci) in ASSESSMENT_STATUS:
                code, cause = ASSESSMENT_STATUS[si, ci]
                security.append(rec.assessment(
                    resource_id=c.id, key=KEY, tenant_id=t, subscription_id=sub, resource_group=c.rg, status_code=code,
                    status_cause=cause, first_evaluation="2026-01-05T10:00:00.1234567Z",
                    status_change="2026-10-01T08:30:00Z",
                    display_name="Azure running container images should have vulnerabilities resolved",
                    severity="High", policy_definition_id=POLICY))
            if ASSESSMENT_STATUS.get((si, ci), ("",))[0] == "Unhealthy":
                security.append(rec.governance_assignment(
                    assessment_id=c.assessment_id, guid=f"{si:08d}-0000-0000-0000-000000000001", tenant_id=t,
                    subscription_id=sub, resource_group=c.rg, owner=f"Owner{si}@Contoso.com",
                    due="2026-11-15T00:00:00Z", grace=si % 2 == 0))
        scope = f"/subscriptions/{sub}/resourceGroups/rg-AKS-1"
        exemption = rec.policy_exemption(
            scope=scope, name=f"ex-{si}", tenant_id=t, subscription_id=sub, resource_group="rg-AKS-1",
            assignment_id=f"/subscriptions/{sub}/providers/microsoft.authorization/policyassignments/securitycenterbuiltin",
            reference_ids=[REFERENCE], category="Waiver" if si % 2 == 0 else "Mitigated", display_name="Accepted risk <b>",
            description='=HYPERLINK("http://evil")', expires_on=None if si == 0 else "2026-12-31T00:00:00Z",
            metadata=EXEMPTION_METADATA[si])
        if EXEMPTION_SYSTEM_DATA[si] is not None:
            exemption["systemData"] = EXEMPTION_SYSTEM_DATA[si]
        policy.append(exemption)
        for control, counts in (("DS.6", (1, 1, 0)), ("PV.6", (1, 1, 0) if si != 2 else (0, 1, 1)), ("LT.2", (3, 0, 0))):
            security.append(rec.regulatory_assessment(
                subscription_id=sub, standard=STANDARD, control=control, key=KEY, tenant_id=t,
                state="Failed" if counts[1] else "Passed", passed=counts[0], failed=counts[1], skipped=counts[2],
                description="Azure running container images should have vulnerabilities resolved"))
    security += [_individual_record(r) for r in INDIVIDUALS]
    security += [_legacy_record(s) for s in LEGACIES]
    # Records that every query must leave out.
    c00 = CLUSTERS[0, 0]
    resources.append(rec.envelope(f"/subscriptions/{SUBS[0]}/resourceGroups/rg-AKS-0/providers/Microsoft.Compute/"
                                  "virtualMachines/jumpbox", "jumpbox", "microsoft.compute/virtualmachines",
                                  tenant_id=t, subscription_id=SUBS[0], resource_group="rg-aks-0", location="westeurope"))
    containers.append(rec.envelope("/providers/Microsoft.Management/managementGroups/mg-platform", "mg-platform",
                                   "microsoft.management/managementgroups", tenant_id=t, subscription_id=""))
    policy.append(rec.policy_state(
        name="00ffffffff", resource_id=c00.id.lower(), resource_type="Microsoft.ContainerService/managedClusters",
        resource_location="westeurope", tenant_id=t, subscription_id=SUBS[0], resource_group="rg-aks-0",
        compliance_state="NonCompliant", assignment_id=f"/subscriptions/{SUBS[0]}/providers/microsoft.authorization/"
        "policyassignments/securitycenterbuiltin", assignment_name="SecurityCenterBuiltIn", definition_id=OTHER_POLICY,
        reference_id="azureContainerRegistryVulnerabilityAssessment", group_names=GROUPS, set_definition_id=POLICY_SET,
        timestamp="2026-10-19T23:10:05Z"))
    other = rec.assessment(resource_id=c00.id, key=OTHER_KEY, tenant_id=t, subscription_id=SUBS[0], resource_group=c00.rg,
                           status_code="Unhealthy", status_cause="", first_evaluation="2026-01-05T10:00:00Z",
                           status_change="2026-10-01T08:30:00Z", display_name="Another recommendation",
                           severity="Low", policy_definition_id=OTHER_POLICY)
    security.append(other)
    security.append(rec.governance_assignment(assessment_id=other["id"], guid="ffffffff-0000-0000-0000-000000000001",
                                              tenant_id=t, subscription_id=SUBS[0], resource_group=c00.rg,
                                              owner="nobody@contoso.com", due="2026-11-01T00:00:00Z", grace=False))
    registry_image = _individual_record(Individual(c00, API, _IMG[0, 0], SSL))
    registry_image["id"] += "-registry"
    registry_image["properties"]["resourceDetails"]["ResourceType"] = ".containerimage"
    aws = _individual_record(Individual(c00, SIDECAR, _IMG[0, 0], NET))
    aws["id"] += "-aws"
    aws["properties"]["resourceDetails"]["Source"] = "AWS"
    security += [registry_image, aws,
                 _legacy_record(LEGACIES[0], assessment_id=f"{c00.id}/providers/Microsoft.Security/assessments/"
                                                           f"{REGISTRY_KEY}")]

    recommendations = [rec.security_recommendation(
        time=h.time, tenant_id=t, assessed_resource_id=h.cluster.id,
        recommendation_id=f"{h.cluster.id}/providers/Microsoft.Security/assessments/{h.key}" if h.by_arm_id else h.key,
        key=h.key, display_name="Azure running container images should have vulnerabilities resolved", state=h.state,
        severity="High", snapshot=h.snapshot, subscription_id=h.cluster.sub if h.subscription_column else "")
        for h in RECOMMENDATION_HISTORY]
    recommendations += [_individual_export(time, INDIVIDUALS[i], state, snapshot, variant)
                        for time, i, state, snapshot, variant in INDIVIDUAL_HISTORY]
    nested = []
    for i, h in enumerate(NESTED_HISTORY):
        row = rec.security_nested_recommendation(
            time=h.time, tenant_id=t, assessed_resource_id=h.cluster.id, id=guid("nested", i),
            parent_id=f"{h.cluster.id}/providers/Microsoft.Security/assessments/{h.key}" if h.by_arm_id else h.key,
            cve_id=h.cve.id, state=h.state, severity=h.cve.severity or h.package.severity, snapshot=h.snapshot,
            digest=_IMG[h.cluster.si, h.cluster.ci].digest, repository=_IMG[h.cluster.si, h.cluster.ci].repository,
            package=h.package.name, subscription_id=h.cluster.sub)
        if h.software_name_only:
            del row["AdditionalData"]["softwareDetails"]
            row["AdditionalData"]["SoftwareName"] = h.package.name
        nested.append(row)
    return ({"resources": resources, "resourcecontainers": containers, "policyresources": policy,
             "securityresources": security},
            {"SecurityRecommendation": recommendations, "SecurityNestedRecommendation": nested})


# ---------------------------------------------------------------------------- facts -> the expected snapshot

def _expected() -> dict[str, pd.DataFrame]:
    """The snapshot rows a person reads off the facts, one field at a time.

    Rules of the services spelled out here: a string read from a missing property is ``""``
    (Kusto ``tostring``), a date read from one is null; ``coalesce`` takes the first non-empty
    string; ids keep the casing Azure gives them and ``resourceGroup`` is lower case; the
    individual recommendations carry one container each, the legacy sub-assessments every
    container running the image; at most 400 CVEs of one package are expanded."""
    rows: dict[str, list[dict]] = {name: [] for name in DATASETS}
    for si, sub in enumerate(SUBS):
        rows["resource_containers"].append({"id": f"/subscriptions/{sub}", "type": "microsoft.resources/subscriptions",
                                            "name": f"Contoso Prod {si} – “EU”", "subscriptionId": sub,
                                            "resourceGroup": "", "tags": SUB_TAGS[si]})
        for ci in range(2):
            c = CLUSTERS[si, ci]
            rows["resource_containers"].append({
                "id": f"/subscriptions/{sub}/resourceGroups/{c.rg}", "type": "microsoft.resources/subscriptions/resourcegroups",
                "name": c.rg, "subscriptionId": sub, "resourceGroup": c.rg.lower(), "tags": RG_TAGS[si, ci]})
            rows["clusters"].append({"id": c.id, "name": c.name, "subscriptionId": sub, "resourceGroup": c.rg.lower(),
                                     "location": c.location, "tags": c.tags})
            rows["policy_states"].append({
                "id": f"{c.id.lower()}/providers/microsoft.policyinsights/policystates/{si}{ci}a1b2c3d4e5f6",
                "resourceId": c.id.lower(), "resourceType": "Microsoft.ContainerService/managedClusters",
                "subscriptionId": sub, "resourceGroup": c.rg.lower(), "complianceState": POLICY_STATE[si, ci],
                "policyAssignmentId": f"/subscriptions/{sub}/providers/microsoft.authorization/policyassignments/"
                                      "securitycenterbuiltin",
                "policyAssignmentName": "securitycenterbuiltin", "policyDefinitionId": POLICY.lower(),
                "policyDefinitionReferenceId": REFERENCE.lower(), "policySetDefinitionId": POLICY_SET.lower(),
                "policyDefinitionGroupNames": GROUPS, "timestamp": "2026-10-19T23:10:05.1234567Z"})
            if (si, ci) in ASSESSMENT_STATUS:
                code, cause = ASSESSMENT_STATUS[si, ci]
                rows["assessments"].append({
                    "id": c.assessment_id, "assessmentKey": KEY, "resourceId": c.id, "subscriptionId": sub,
                    "resourceGroup": c.rg.lower(), "statusCode": code, "statusCause": cause, "severity": "High",
                    "displayName": "Azure running container images should have vulnerabilities resolved",
                    "firstEvaluationDate": "2026-01-05T10:00:00.1234567Z", "statusChangeDate": "2026-10-01T08:30:00Z"})
                if code == "Unhealthy":
                    rows["governance_assignments"].append({
                        "id": f"{c.assessment_id}/governanceAssignments/{si:08d}-0000-0000-0000-000000000001",
                        "assessmentId": c.assessment_id, "owner": f"Owner{si}@Contoso.com",
                        "remediationDueDate": "2026-11-15T00:00:00Z", "isGracePeriod": si % 2 == 0})
        scope = f"/subscriptions/{sub}/resourceGroups/rg-AKS-1"
        rows["exemptions"].append({
            "id": f"{scope}/providers/Microsoft.Authorization/policyExemptions/ex-{si}", "name": f"ex-{si}",
            "subscriptionId": sub, "resourceGroup": "rg-aks-1", "scope": scope,
            "policyAssignmentId": f"/subscriptions/{sub}/providers/microsoft.authorization/policyassignments/"
                                  "securitycenterbuiltin",
            "policyDefinitionReferenceIds": [REFERENCE], "category": "Waiver" if si % 2 == 0 else "Mitigated",
            "displayName": "Accepted risk <b>", "description": '=HYPERLINK("http://evil")',
            "expiresOn": None if si == 0 else "2026-12-31T00:00:00Z",
            # metadata as stored ({} when the exemption has none); systemData's fields, "" and null
            # when the record has no systemData (tostring / todatetime of a missing value)
            "metadata": EXEMPTION_METADATA[si],
            "createdBy": (EXEMPTION_SYSTEM_DATA[si] or {}).get("createdBy", ""),
            "createdAt": (EXEMPTION_SYSTEM_DATA[si] or {}).get("createdAt"),
            "lastModifiedBy": (EXEMPTION_SYSTEM_DATA[si] or {}).get("lastModifiedBy", ""),
            "lastModifiedAt": (EXEMPTION_SYSTEM_DATA[si] or {}).get("lastModifiedAt")})
        for control, counts in (("DS.6", (1, 1, 0)), ("PV.6", (1, 1, 0) if si != 2 else (0, 1, 1))):
            rows["regulatory_compliance"].append({
                "id": f"/subscriptions/{sub}/providers/Microsoft.Security/regulatoryComplianceStandards/{STANDARD}"
                      f"/regulatoryComplianceControls/{control}/regulatoryComplianceAssessments/{KEY}",
                "subscriptionId": sub, "standard": STANDARD, "control": control, "assessmentKey": KEY,
                "state": "Failed", "passedResources": counts[0], "failedResources": counts[1],
                "skippedResources": counts[2]})
    for r in INDIVIDUALS:
        p, image = r.package, r.image
        for cve in p.cves[:MV_EXPAND_LIMIT]:
            rows["findings"].append({
                "id": r.id, "assessmentKey": r.name, "resourceId": r.cluster.id, "subscriptionId": r.cluster.sub,
                "resourceGroup": r.cluster.rg.lower(), "cveId": cve.id, "title": cve.description or r.display_name,
                "severity": cve.severity or p.severity, "cvssScore": cve.cvss, "statusCode": r.status,
                "statusCause": r.cause, "registryHost": image.registry, "repositoryName": image.repository,
                "imageDigest": image.digest, "imageTags": [image.tag] if image.tag else [], "packageName": p.name,
                "packageVersion": ",".join(p.versions), "fixedVersion": cve.fix(p)[1], "fixStatus": cve.fix(p)[0],
                "osPlatform": "", "osVersion": "", "publishedDate": cve.published, "exploitable": cve.exploitable,
                "timeGenerated": r.status_change, "workloads": [r.container.flat()],
                "source": "individual-recommendations", "firstEvaluationDate": r.first_evaluation,
                "packageCveCount": len(p.cves)})
    for s in LEGACIES:
        p, cve, image = s.package, s.cve, s.image
        rows["findings"].append({
            "id": s.id, "assessmentKey": KEY, "resourceId": s.cluster.id, "subscriptionId": s.cluster.sub,
            "resourceGroup": s.cluster.rg.lower(), "cveId": cve.id, "title": cve.description or cve.id,
            "severity": cve.severity, "cvssScore": cve.cvss, "statusCode": s.status, "statusCause": s.cause,
            "registryHost": image.registry, "repositoryName": image.repository, "imageDigest": image.digest,
            "imageTags": list(image.legacy_tags), "packageName": p.name, "packageVersion": p.versions[0],
            "fixedVersion": cve.fix(p)[1], "fixStatus": cve.fix(p)[0],
            "osPlatform": p.os[0], "osVersion": p.os[1], "publishedDate": cve.published,
            "exploitable": cve.exploit_published, "timeGenerated": s.time_generated,
            "workloads": [w.flat() for w in s.workloads], "source": "legacy-subassessments",
            "firstEvaluationDate": None, "packageCveCount": None})
    for h in RECOMMENDATION_HISTORY:
        if h.in_period:
            rows["assessment_history"].append({
                "TimeGenerated": h.time, "AssessedResourceId": h.cluster.id, "RecommendationName": KEY,
                "RecommendationState": h.state, "IsSnapshot": h.snapshot, "SubscriptionId": h.cluster.sub})
    for h in NESTED_HISTORY:
        if h.in_period:
            rows["finding_history"].append({
                "TimeGenerated": h.time, "AssessedResourceId": h.cluster.id, "VulnerabilityId": h.cve.id,
                "imageDigest": _IMG[h.cluster.si, h.cluster.ci].digest, "packageName": h.package.name,
                "RecommendationState": h.state, "RecommendationSeverity": h.cve.severity or h.package.severity,
                "IsSnapshot": h.snapshot})
    for time, i, state, snapshot, variant in INDIVIDUAL_HISTORY:
        r = INDIVIDUALS[i]
        if variant in ("registry", "before") or not _in_period(time):
            continue
        for cve in r.package.cves:   # one row per CVE; Log Analytics expands them all
            rows["finding_history"].append({
                "TimeGenerated": time, "AssessedResourceId": r.cluster.id, "VulnerabilityId": cve.id,
                "imageDigest": r.image.digest, "packageName": r.package.name, "RecommendationState": state,
                "RecommendationSeverity": cve.severity or r.package.severity, "IsSnapshot": snapshot})
    return frames_from_rows(rows)


def tiny_tenant() -> Tenant:
    """The hand-built tenant: three subscriptions, six clusters, 432 findings rows."""
    resource_graph, log_analytics = _records()
    return Tenant("tiny", resource_graph, log_analytics, SUBS, _expected, dict(MANAGEMENT_GROUPS))


# ---------------------------------------------------------------------------- the built-in sample

def sample_records(clusters: int, seed: int = 1, as_of: date = AS_OF.date()) -> dict:
    """The sample tenant's raw records (for ``EmulatorProcess``: importable, runs in the child)."""
    from reportgen.collect.sample import raw_records
    resource_graph, log_analytics = raw_records(clusters, seed, as_of)
    return {"resource_graph": resource_graph, "log_analytics": log_analytics,
            "subscriptions": subscriptions_of(resource_graph)}


def subscriptions_of(resource_graph: Mapping[str, pa.Table]) -> list[str]:
    containers = resource_graph["resourcecontainers"].to_pylist()
    return sorted({r["subscriptionId"] for r in containers if r["type"] == rec.SUBSCRIPTION})


def sample_tenant(clusters: int, seed: int = 1, as_of: date = AS_OF.date()) -> Tenant:
    """The built-in sample tenant; expected frames (and gaps) as the sample collection makes them
    from the same records with the embedded engine (what ``reportgen.collect.sample.generate`` does)."""
    records = sample_records(clusters, seed, as_of)
    tenant = Tenant(f"sample-{clusters}", records["resource_graph"], records["log_analytics"],
                    tuple(records["subscriptions"]), lambda: {})

    def expected() -> dict[str, pd.DataFrame]:
        from reportgen.collect.sample import world, write_month
        from reportgen.snapshot import read_snapshot
        with tempfile.TemporaryDirectory(prefix="reportgen-sample-") as tmp:
            snapshot = read_snapshot(write_month(world(clusters, seed, as_of), Path(tmp) / "snapshot", 0, clusters))
        tenant.expected_gaps = list(snapshot.meta.get("gaps") or [])
        return {name: coerce_frame(name, snapshot.frames[name], origin=f"sample {name}") for name in DATASETS}

    tenant.expected_factory = expected
    return tenant


def write_expected_snapshot(path: Path, frames: Mapping[str, pd.DataFrame], collected_at: datetime | pd.Timestamp,
                            period: tuple[date, date], scope: Mapping | None = None,
                            gaps: Sequence[Mapping] = ()) -> Path:
    """Expected frames written as a snapshot directly (what rendering "the expected snapshot" reads)."""
    return write_snapshot(path, frames, collected_at=collected_at, period=period, source="expected",
                          run_id="expected", scope=scope, extra_meta={"gaps": list(gaps)})


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
