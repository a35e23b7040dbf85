"""Static data for the built-in sample tenant: CVEs, packages, images, teams and places.

Everything here is data; ``reportgen.collect.sample`` turns it into an estate. The CVE ids,
their affected packages, severities and publication dates are real and well known; the
installed and fixed package versions are realistic but illustrative (they follow each
distribution's versioning scheme, not necessarily its exact security advisory).

Platforms are operating systems (``debian-12``, ``alpine-3.18``...) or language
ecosystems (``go``, ``java``, ``python``, ``npm``, ``dotnet``...). An image has one OS
platform and any number of language platforms; it can carry the CVEs of those platforms.
"""

from __future__ import annotations

from dataclasses import dataclass

ORG = "contoso"
EMAIL_DOMAIN = "contoso.com"

POLICY_DEFINITION_ID = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
POLICY_DISPLAY_NAME = ("Azure running container images should have vulnerabilities resolved "
                       "(powered by Microsoft Defender Vulnerability Management)")
POLICY_REFERENCE_ID = "kubernetesRunningImagesVulnerabilityMDVMAssessment"
POLICY_SET_ID = "/providers/Microsoft.Authorization/policySetDefinitions/1f3afdf9-d0c9-4c3d-847f-89da613e70a8"
POLICY_GROUPS = ("Azure_Security_Benchmark_v3.0_PV-6", "Azure_Security_Benchmark_v3.0_DS-6")
ASSESSMENT_KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
ASSIGNMENT_NAME = "SecurityCenterBuiltIn"
STANDARD = "Microsoft-cloud-security-benchmark"
CONTROLS = ("DS.6", "PV.6")

# Other policies of the same initiative that show up in policy states (the aggregator must ignore them).
# (definition id, reference id, group names, resource kind: "cluster" | "registry")
OTHER_POLICIES = (
    ("/providers/Microsoft.Authorization/policyDefinitions/a1840de2-8088-4ea8-b153-b4c723e9cb01",
     "azureKubernetesServiceClustersShouldHaveDefenderProfileEnabled", ("Azure_Security_Benchmark_v3.0_LT-1",),
     "cluster"),
    ("/providers/Microsoft.Authorization/policyDefinitions/0a15ec92-a229-4763-bb14-0ea34a568f8d",
     "azurePolicyAddOnForKubernetesServiceShouldBeInstalledAndEnabledOnClusters",
     ("Azure_Security_Benchmark_v3.0_PV-2",), "cluster"),
    ("/providers/Microsoft.Authorization/policyDefinitions/090c7b07-b4ed-4561-ad20-e9075f3ccaff",
     "azureContainerRegistryVulnerabilityAssessment", POLICY_GROUPS, "registry"),
)
DEFENDER_PROFILE_POLICY = 0
POLICY_ADDON_POLICY = 1
REGISTRY_POLICY = 2

# --------------------------------------------------------------------------------------------
# Platforms: OS version strings as Defender reports them, and installed package versions.
# --------------------------------------------------------------------------------------------

OS_VERSIONS = {
    "debian-10": "debian_linux_10", "debian-11": "debian_linux_11", "debian-12": "debian_linux_12",
    "debian-13": "debian_linux_13", "ubuntu-22.04": "ubuntu_linux_22.04", "alpine-3.16": "alpine_linux_3.16",
    "alpine-3.18": "alpine_linux_3.18", "mariner-2.0": "cbl_mariner_2.0",
}
LANGUAGES = ("go", "go-runc", "java", "java-legacy", "python", "python-ml", "npm", "dotnet")

PACKAGE_VERSIONS: dict[str, dict[str, str]] = {
    "debian-10": {
        "libssl1.1": "1.1.1d-0+deb10u7", "openssl": "1.1.1d-0+deb10u7", "libexpat1": "2.2.6-2+deb10u1",
        "zlib1g": "1:1.2.11.dfsg-1", "libc6": "2.28-10", "libc-bin": "2.28-10", "apt": "1.8.2.3",
        "libapt-pkg5.0": "1.8.2.3", "libbz2-1.0": "1.0.6-9.1", "bzip2": "1.0.6-9.1", "gzip": "1.9-3",
        "libgnutls30": "3.6.7-4+deb10u7", "libsqlite3-0": "3.27.2-3+deb10u1", "libpcre3": "2:8.39-12",
        "libsystemd0": "241-7~deb10u8", "libudev1": "241-7~deb10u8", "perl-base": "5.28.1-6+deb10u1",
        "login": "1:4.5-1.1", "passwd": "1:4.5-1.1",
    },
    "debian-11": {
        "libssl1.1": "1.1.1n-0+deb11u3", "openssl": "1.1.1n-0+deb11u3", "curl": "7.74.0-1.3+deb11u7",
        "libcurl4": "7.74.0-1.3+deb11u7", "libc6": "2.31-13+deb11u5", "libc-bin": "2.31-13+deb11u5",
        "libwebp6": "0.6.1-2.1", "libexpat1": "2.2.10-2+deb11u3", "zlib1g": "1:1.2.11.dfsg-2+deb11u1",
        "libncursesw6": "6.2+20201114-2", "libtinfo6": "6.2+20201114-2", "libgnutls30": "3.7.1-5+deb11u1",
        "e2fsprogs": "1.46.2-2", "libcom-err2": "1.46.2-2", "libext2fs2": "1.46.2-2", "libss2": "1.46.2-2",
        "gzip": "1.10-4", "apt": "2.2.4", "libapt-pkg6.0": "2.2.4", "util-linux": "2.36.1-8+deb11u1",
        "libblkid1": "2.36.1-8+deb11u1", "libmount1": "2.36.1-8+deb11u1", "libsmartcols1": "2.36.1-8+deb11u1",
        "libuuid1": "2.36.1-8+deb11u1", "coreutils": "8.32-4+b1", "libsqlite3-0": "3.34.1-3",
        "perl-base": "5.32.1-4+deb11u2", "libsystemd0": "247.3-7+deb11u4", "libudev1": "247.3-7+deb11u4",
        "libkrb5-3": "1.18.3-6+deb11u3", "libgssapi-krb5-2": "1.18.3-6+deb11u3", "libpcre3": "2:8.39-13",
        "bash": "5.1-2+b3", "libpam0g": "1.4.0-9+deb11u1", "libpam-modules": "1.4.0-9+deb11u1",
        "tar": "1.34+dfsg-1", "libxml2": "2.9.10+dfsg-6.7+deb11u2", "openssh-client": "1:8.4p1-5+deb11u1",
        "libnghttp2-14": "1.43.0-1", "libldap-2.4-2": "2.4.57+dfsg-3+deb11u1", "login": "1:4.8.1-1",
        "passwd": "1:4.8.1-1", "libprocps8": "2:3.3.17-5", "procps": "2:3.3.17-5", "gpgv": "2.2.27-2+deb11u2",
    },
    "debian-12": {
        "libssl3": "3.0.9-1", "openssl": "3.0.9-1", "curl": "7.88.1-10+deb12u3", "libcurl4": "7.88.1-10+deb12u3",
        "libc6": "2.36-9+deb12u1", "libc-bin": "2.36-9+deb12u1", "libwebp7": "1.2.4-0.2",
        "libnghttp2-14": "1.52.0-1", "libexpat1": "2.5.0-1", "zlib1g": "1:1.2.13.dfsg-1",
        "libncursesw6": "6.4-4", "libtinfo6": "6.4-4", "ncurses-base": "6.4-4", "perl-base": "5.36.0-7",
        "libsqlite3-0": "3.40.1-2", "libxml2": "2.9.14+dfsg-1.2", "apt": "2.6.1", "libapt-pkg6.0": "2.6.1",
        "util-linux": "2.38.1-5+b1", "libblkid1": "2.38.1-5+b1", "libmount1": "2.38.1-5+b1",
        "libsmartcols1": "2.38.1-5+b1", "libuuid1": "2.38.1-5+b1", "libgcc-s1": "12.2.0-14",
        "libstdc++6": "12.2.0-14", "gcc-12-base": "12.2.0-14", "coreutils": "9.1-1", "libgnutls30": "3.7.9-2",
        "libkrb5-3": "1.20.1-2+deb12u1", "libgssapi-krb5-2": "1.20.1-2+deb12u1", "libldap-2.5-0": "2.5.13+dfsg-5",
        "libsystemd0": "252.17-1~deb12u1", "libudev1": "252.17-1~deb12u1", "libzstd1": "1.5.4+dfsg2-5",
        "gpgv": "2.2.40-1.1", "libpam0g": "1.5.2-6+deb12u1", "libpam-modules": "1.5.2-6+deb12u1",
        "openssh-client": "1:9.2p1-2+deb12u1", "tar": "1.34+dfsg-1.2", "login": "1:4.13+dfsg1-1",
        "passwd": "1:4.13+dfsg1-1", "libproc2-0": "2:4.0.2-3", "procps": "2:4.0.2-3",
    },
    "debian-13": {
        "liblzma5": "5.6.0-0.2", "xz-utils": "5.6.0-0.2", "libc6": "2.37-12", "libc-bin": "2.37-12",
        "apt": "2.7.12", "libapt-pkg6.0": "2.7.12", "util-linux": "2.39.3-6", "libblkid1": "2.39.3-6",
        "libgcc-s1": "13.2.0-13", "libstdc++6": "13.2.0-13",
    },
    "ubuntu-22.04": {
        "libssl3": "3.0.2-0ubuntu1.9", "openssl": "3.0.2-0ubuntu1.9", "libc6": "2.35-0ubuntu3.1",
        "libc-bin": "2.35-0ubuntu3.1", "curl": "7.81.0-1ubuntu1.10", "libcurl4": "7.81.0-1ubuntu1.10",
        "libwebp7": "1.2.2-2", "libncursesw6": "6.3-2", "libtinfo6": "6.3-2", "ncurses-base": "6.3-2",
        "openssh-client": "1:8.9p1-3ubuntu0.4", "openssh-server": "1:8.9p1-3ubuntu0.4",
        "openssh-sftp-server": "1:8.9p1-3ubuntu0.4", "python3.10": "3.10.6-1~22.04.2",
        "libpython3.10-minimal": "3.10.6-1~22.04.2", "libpython3.10-stdlib": "3.10.6-1~22.04.2",
        "libexpat1": "2.4.7-1ubuntu0.2", "zlib1g": "1:1.2.11.dfsg-2ubuntu9.2", "libsqlite3-0": "3.37.2-2ubuntu0.1",
        "libgnutls30": "3.7.3-4ubuntu1.2", "libpam0g": "1.4.0-11ubuntu2.3", "libpam-modules": "1.4.0-11ubuntu2.3",
        "libsystemd0": "249.11-0ubuntu3.9", "libudev1": "249.11-0ubuntu3.9", "libkrb5-3": "1.19.2-2ubuntu0.2",
        "libgssapi-krb5-2": "1.19.2-2ubuntu0.2", "libldap-2.5-0": "2.5.14+dfsg-0ubuntu0.22.04.2",
        "libgcc-s1": "12.3.0-1ubuntu1~22.04", "libstdc++6": "12.3.0-1ubuntu1~22.04",
        "gcc-12-base": "12.3.0-1ubuntu1~22.04", "coreutils": "8.32-4.1ubuntu1", "libzstd1": "1.4.8+dfsg-3build1",
        "bash": "5.1-6ubuntu1", "libprocps8": "2:3.3.17-6ubuntu2", "procps": "2:3.3.17-6ubuntu2",
        "libxml2": "2.9.13+dfsg-1ubuntu0.3", "gpgv": "2.2.27-3ubuntu2.1", "libnghttp2-14": "1.43.0-1build3",
        "perl-base": "5.34.0-3ubuntu1.2", "login": "1:4.8.1-2ubuntu2.1", "passwd": "1:4.8.1-2ubuntu2.1",
        "libpcre3": "2:8.39-13ubuntu0.22.04.1",
    },
    "alpine-3.16": {
        "libssl3": "3.0.5-r0", "libcrypto3": "3.0.5-r0", "busybox": "1.35.0-r17", "ssl_client": "1.35.0-r17",
        "zlib": "1.2.12-r1", "curl": "7.83.1-r3", "libcurl": "7.83.1-r3", "expat": "2.4.9-r0",
        "ncurses-libs": "6.3_p20220521-r0", "ncurses-terminfo-base": "6.3_p20220521-r0",
    },
    "alpine-3.18": {
        "libssl3": "3.1.1-r1", "libcrypto3": "3.1.1-r1", "busybox": "1.36.1-r0", "busybox-binsh": "1.36.1-r0",
        "ssl_client": "1.36.1-r0", "curl": "8.2.1-r0", "libcurl": "8.2.1-r0", "libwebp": "1.3.0-r2",
        "nghttp2-libs": "1.55.1-r0", "libexpat": "2.5.0-r1", "libxml2": "2.11.4-r0", "zlib": "1.2.13-r1",
        "sqlite-libs": "3.41.2-r2", "c-ares": "1.19.1-r0", "ncurses-libs": "6.4_p20230506-r0",
        "openssh-client": "9.3_p2-r0",
    },
    "mariner-2.0": {
        "openssl": "1.1.1k-20.cm2", "openssl-libs": "1.1.1k-20.cm2", "curl": "8.1.2-2.cm2",
        "curl-libs": "8.1.2-2.cm2", "glibc": "2.35-4.cm2", "expat": "2.5.0-1.cm2", "expat-libs": "2.5.0-1.cm2",
        "zlib": "1.2.13-1.cm2", "libxml2": "2.10.4-1.cm2", "sqlite-libs": "3.39.2-3.cm2", "krb5": "1.19.4-1.cm2",
        "nghttp2": "1.52.0-2.cm2", "ncurses-libs": "6.4-1.cm2",
    },
    "go": {
        "stdlib": "1.20.7", "golang.org/x/net": "v0.15.0", "golang.org/x/crypto": "v0.14.0",
        "google.golang.org/grpc": "v1.58.2", "google.golang.org/protobuf": "v1.31.0",
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp": "v0.42.0",
        "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc": "v0.42.0",
        "github.com/go-jose/go-jose/v3": "v3.0.0", "github.com/golang-jwt/jwt/v4": "v4.5.0",
        "gopkg.in/yaml.v3": "v3.0.0-20210107192922-496545a6307b",
    },
    "go-runc": {
        "github.com/opencontainers/runc": "v1.1.5", "github.com/docker/docker": "v24.0.5+incompatible",
    },
    "java": {
        "org.springframework:spring-web": "5.3.29", "org.springframework:spring-webmvc": "5.3.29",
        "org.springframework.security:spring-security-web": "5.7.10",
        "org.apache.tomcat.embed:tomcat-embed-core": "9.0.78",
        "com.fasterxml.jackson.core:jackson-databind": "2.13.5", "org.yaml:snakeyaml": "1.30",
        "ch.qos.logback:logback-classic": "1.2.12", "ch.qos.logback:logback-core": "1.2.12",
        "io.netty:netty-codec-http2": "4.1.94.Final", "io.netty:netty-codec-http": "4.1.94.Final",
        "io.projectreactor.netty:reactor-netty-http": "1.0.34", "com.google.guava:guava": "31.1-jre",
        "net.minidev:json-smart": "2.4.8", "org.postgresql:postgresql": "42.3.8",
        "org.apache.kafka:kafka-clients": "3.1.2", "commons-io:commons-io": "2.11.0",
        "org.apache.commons:commons-compress": "1.21", "org.bouncycastle:bcprov-jdk18on": "1.74",
    },
    "java-legacy": {
        "org.apache.logging.log4j:log4j-core": "2.14.1", "org.springframework:spring-beans": "5.3.10",
        "org.springframework:spring-expression": "5.3.10", "org.springframework:spring-web": "5.3.10",
        "org.springframework.cloud:spring-cloud-function-context": "3.1.6",
        "com.fasterxml.jackson.core:jackson-databind": "2.12.3", "org.apache.commons:commons-text": "1.9",
        "com.h2database:h2": "1.4.200", "org.apache.activemq:activemq-client": "5.16.5",
        "org.yaml:snakeyaml": "1.28", "commons-fileupload:commons-fileupload": "1.4",
        "org.apache.tomcat.embed:tomcat-embed-core": "9.0.53", "com.google.guava:guava": "29.0-jre",
        "ch.qos.logback:logback-classic": "1.2.6", "org.postgresql:postgresql": "42.2.20",
        "io.netty:netty-codec": "4.1.63.Final",
    },
    "python": {
        "setuptools": "65.3.0", "requests": "2.28.1", "certifi": "2022.9.24", "urllib3": "1.26.12",
        "pip": "22.2.2", "cryptography": "39.0.1", "flask": "2.2.2", "werkzeug": "2.2.2", "jinja2": "3.1.2",
        "idna": "3.4", "gunicorn": "20.1.0", "aiohttp": "3.8.4", "py": "1.11.0", "sqlparse": "0.4.3",
    },
    "python-ml": {"pillow": "9.4.0", "torch": "2.0.1", "transformers": "4.30.2"},
    "npm": {
        "express": "4.18.2", "body-parser": "1.20.1", "path-to-regexp": "0.1.7", "send": "0.18.0",
        "serve-static": "1.15.0", "cookie": "0.5.0", "semver": "7.3.8", "tough-cookie": "4.1.2",
        "braces": "3.0.2", "micromatch": "4.0.5", "ws": "8.13.0", "follow-redirects": "1.15.2", "axios": "1.4.0",
        "cross-spawn": "7.0.3", "ip": "2.0.0", "jsonwebtoken": "8.5.1", "request": "2.88.2", "json5": "2.2.1",
        "word-wrap": "1.2.3", "minimatch": "3.0.4", "lodash": "4.17.20", "postcss": "8.4.21", "nanoid": "3.3.4",
        "@babel/traverse": "7.22.5", "dicer": "0.3.1", "undici": "5.22.1",
    },
    "dotnet": {
        "System.Text.Json": "8.0.0", "Newtonsoft.Json": "12.0.3", "Microsoft.Data.SqlClient": "2.1.4",
        "System.Formats.Asn1": "6.0.0", "Azure.Identity": "1.10.0",
        "Microsoft.IdentityModel.JsonWebTokens": "6.27.0",
    },
}

# --------------------------------------------------------------------------------------------
# CVE catalogue. Header: id | severity | CVSS 3 | published | x = known exploited / public exploit | title.
# Indented lines: platform: packages -> fixed version, or "-> ! NoFixAvailable" / "-> ! WontFix".
# --------------------------------------------------------------------------------------------

_CVES = r"""
CVE-2022-3602 | High | 7.5 | 2022-11-01 | - | OpenSSL: X.509 email address 4-byte buffer overflow (punycode)
  alpine-3.16: libssl3, libcrypto3 -> 3.0.7-r0
CVE-2022-3786 | High | 7.5 | 2022-11-01 | - | OpenSSL: X.509 email address variable-length buffer overflow
  alpine-3.16: libssl3, libcrypto3 -> 3.0.7-r0
CVE-2022-0778 | High | 7.5 | 2022-03-15 | - | OpenSSL: infinite loop in BN_mod_sqrt() when parsing certificates
  debian-10: libssl1.1, openssl -> 1.1.1d-0+deb10u8
CVE-2023-0286 | High | 7.4 | 2023-02-08 | - | OpenSSL: X.400 address type confusion in X.509 GeneralName
  debian-10: libssl1.1, openssl -> 1.1.1n-0+deb10u4
  debian-11: libssl1.1, openssl -> 1.1.1n-0+deb11u4
  alpine-3.16: libssl3, libcrypto3 -> 3.0.8-r0
  mariner-2.0: openssl, openssl-libs -> 1.1.1k-21.cm2
CVE-2023-0464 | High | 7.5 | 2023-03-22 | - | OpenSSL: excessive resource use verifying X.509 policy constraints
  debian-11: libssl1.1, openssl -> 1.1.1n-0+deb11u5
  alpine-3.16: libssl3, libcrypto3 -> 3.0.8-r1
  mariner-2.0: openssl, openssl-libs -> 1.1.1k-23.cm2
CVE-2023-2650 | Medium | 6.5 | 2023-05-30 | - | OpenSSL: possible denial of service translating ASN.1 object identifiers
  debian-11: libssl1.1, openssl -> 1.1.1n-0+deb11u5
  ubuntu-22.04: libssl3, openssl -> 3.0.2-0ubuntu1.10
  alpine-3.16: libssl3, libcrypto3 -> 3.0.9-r0
  mariner-2.0: openssl, openssl-libs -> 1.1.1k-24.cm2
CVE-2023-3817 | Medium | 5.3 | 2023-07-31 | - | OpenSSL: excessive time spent checking DH q parameter value
  debian-12: libssl3, openssl -> 3.0.11-1~deb12u1
  ubuntu-22.04: libssl3, openssl -> 3.0.2-0ubuntu1.12
  alpine-3.18: libssl3, libcrypto3 -> 3.1.2-r0
CVE-2023-5363 | High | 7.5 | 2023-10-25 | - | OpenSSL: incorrect cipher key and IV length processing
  debian-12: libssl3, openssl -> 3.0.11-1~deb12u2
  ubuntu-22.04: libssl3, openssl -> 3.0.2-0ubuntu1.12
  alpine-3.18: libssl3, libcrypto3 -> 3.1.4-r0
CVE-2023-5678 | Medium | 5.3 | 2023-11-06 | - | OpenSSL: excessive time spent in DH check and key generation with large Q
  debian-12: libssl3, openssl -> 3.0.13-1~deb12u1
  debian-11: libssl1.1, openssl -> 1.1.1w-0+deb11u1
  ubuntu-22.04: libssl3, openssl -> 3.0.2-0ubuntu1.13
  alpine-3.18: libssl3, libcrypto3 -> 3.1.4-r1
  mariner-2.0: openssl, openssl-libs -> 1.1.1k-28.cm2
CVE-2024-0727 | Medium | 5.5 | 2024-01-26 | - | OpenSSL: NULL pointer dereference processing malformed PKCS12 files
  debian-12: libssl3, openssl -> 3.0.13-1~deb12u1
  debian-11: libssl1.1, openssl -> 1.1.1w-0+deb11u2
  ubuntu-22.04: libssl3, openssl -> 3.0.2-0ubuntu1.14
  alpine-3.18: libssl3, libcrypto3 -> 3.1.4-r5
  mariner-2.0: openssl, openssl-libs -> 1.1.1k-29.cm2
  python: cryptography -> 42.0.2
CVE-2024-5535 | Critical | 9.1 | 2024-06-27 | - | OpenSSL: buffer over-read in SSL_select_next_proto with an empty client list
  debian-12: libssl3, openssl -> 3.0.15-1~deb12u1
  ubuntu-22.04: libssl3, openssl -> 3.0.2-0ubuntu1.17
  alpine-3.18: libssl3, libcrypto3 -> 3.1.6-r0
  mariner-2.0: openssl, openssl-libs -> 1.1.1k-31.cm2
CVE-2024-6119 | High | 7.5 | 2024-09-03 | - | OpenSSL: possible denial of service in X.509 name checks
  debian-12: libssl3, openssl -> 3.0.14-1~deb12u2
  ubuntu-22.04: libssl3, openssl -> 3.0.2-0ubuntu1.18
  alpine-3.18: libssl3, libcrypto3 -> 3.1.7-r0
CVE-2024-9143 | Medium | 4.3 | 2024-10-16 | - | OpenSSL: out-of-bounds memory access with low-level GF(2^m) elliptic curve APIs
  debian-12: libssl3, openssl -> 3.0.15-1~deb12u1
  ubuntu-22.04: libssl3, openssl -> 3.0.2-0ubuntu1.19
  alpine-3.18: libssl3, libcrypto3 -> ! NoFixAvailable
CVE-2023-38545 | Critical | 9.8 | 2023-10-18 | x | curl: heap buffer overflow in the SOCKS5 proxy handshake
  debian-12: curl, libcurl4 -> 7.88.1-10+deb12u4
  ubuntu-22.04: curl, libcurl4 -> 7.81.0-1ubuntu1.14
  alpine-3.18: curl, libcurl -> 8.4.0-r0
  mariner-2.0: curl, curl-libs -> 8.4.0-1.cm2
CVE-2023-38546 | Low | 3.7 | 2023-10-18 | - | curl: cookie injection with none file
  debian-12: curl, libcurl4 -> 7.88.1-10+deb12u4
  debian-11: curl, libcurl4 -> 7.74.0-1.3+deb11u10
  ubuntu-22.04: curl, libcurl4 -> 7.81.0-1ubuntu1.14
  alpine-3.18: curl, libcurl -> 8.4.0-r0
CVE-2023-46218 | Medium | 6.5 | 2023-12-07 | - | curl: cookie mixed case public suffix list bypass
  debian-12: curl, libcurl4 -> 7.88.1-10+deb12u5
  debian-11: curl, libcurl4 -> 7.74.0-1.3+deb11u11
  ubuntu-22.04: curl, libcurl4 -> 7.81.0-1ubuntu1.15
  alpine-3.18: curl, libcurl -> 8.5.0-r0
CVE-2022-32221 | Critical | 9.8 | 2022-12-05 | - | curl: POST following PUT confusion re-uses a stale read callback
  alpine-3.16: curl, libcurl -> 7.86.0-r0
CVE-2022-42915 | Critical | 9.8 | 2022-10-29 | - | curl: HTTP proxy double free
  alpine-3.16: curl, libcurl -> 7.86.0-r0
CVE-2023-4911 | High | 7.8 | 2023-10-03 | x | glibc: buffer overflow in ld.so GLIBC_TUNABLES handling (Looney Tunables)
  debian-12: libc6, libc-bin -> 2.36-9+deb12u3
  ubuntu-22.04: libc6, libc-bin -> 2.35-0ubuntu3.4
  mariner-2.0: glibc -> 2.35-6.cm2
CVE-2023-4806 | Medium | 5.9 | 2023-09-18 | - | glibc: use-after-free in getaddrinfo() with AF_UNSPEC
  debian-12: libc6, libc-bin -> 2.36-9+deb12u3
  debian-11: libc6, libc-bin -> ! NoFixAvailable
  ubuntu-22.04: libc6, libc-bin -> 2.35-0ubuntu3.5
  mariner-2.0: glibc -> 2.35-6.cm2
CVE-2023-4813 | Medium | 5.9 | 2023-09-12 | - | glibc: potential use-after-free in gaih_inet()
  debian-11: libc6, libc-bin -> ! NoFixAvailable
  debian-10: libc6, libc-bin -> ! WontFix
CVE-2023-6246 | High | 7.8 | 2024-01-31 | - | glibc: heap-based buffer overflow in __vsyslog_internal
  debian-12: libc6, libc-bin -> 2.36-9+deb12u4
  debian-13: libc6, libc-bin -> 2.37-15
CVE-2024-2961 | High | 7.3 | 2024-04-17 | x | glibc: out-of-bounds write in iconv ISO-2022-CN-EXT conversion
  debian-12: libc6, libc-bin -> 2.36-9+deb12u6
  debian-11: libc6, libc-bin -> 2.31-13+deb11u9
  debian-13: libc6, libc-bin -> 2.37-18
  ubuntu-22.04: libc6, libc-bin -> 2.35-0ubuntu3.7
  mariner-2.0: glibc -> 2.35-7.cm2
CVE-2019-1010022 | Critical | 9.8 | 2019-07-15 | - | glibc: stack guard protection bypass (disputed)
  debian-10: libc6, libc-bin -> ! WontFix
  debian-11: libc6, libc-bin -> ! WontFix
  debian-12: libc6, libc-bin -> ! WontFix
CVE-2021-33574 | Critical | 9.8 | 2021-05-25 | - | glibc: mq_notify use-after-free
  debian-10: libc6, libc-bin -> ! WontFix
CVE-2023-4863 | High | 8.8 | 2023-09-12 | x | libwebp: heap buffer overflow in WebP lossless decoding (BuildHuffmanTable)
  debian-12: libwebp7 -> 1.2.4-0.2+deb12u1
  debian-11: libwebp6 -> 0.6.1-2.1+deb11u2
  ubuntu-22.04: libwebp7 -> 1.2.2-2ubuntu0.22.04.2
  alpine-3.18: libwebp -> 1.3.2-r0
CVE-2023-44487 | High | 7.5 | 2023-10-10 | x | HTTP/2 Rapid Reset: stream cancellation allows denial of service
  debian-12: libnghttp2-14 -> 1.52.0-1+deb12u1
  debian-11: libnghttp2-14 -> 1.43.0-1+deb11u1
  ubuntu-22.04: libnghttp2-14 -> 1.43.0-1ubuntu0.1
  alpine-3.18: nghttp2-libs -> 1.57.0-r0
  mariner-2.0: nghttp2 -> 1.57.0-1.cm2
  go: golang.org/x/net -> v0.17.0
  go: google.golang.org/grpc -> v1.58.3
  java: io.netty:netty-codec-http2 -> 4.1.100.Final
  java: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.81
  java-legacy: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.81
CVE-2024-28182 | Medium | 5.3 | 2024-04-04 | - | nghttp2: unbounded CONTINUATION frames cause denial of service
  debian-12: libnghttp2-14 -> 1.52.0-1+deb12u2
  debian-11: libnghttp2-14 -> 1.43.0-1+deb11u2
  ubuntu-22.04: libnghttp2-14 -> 1.43.0-1ubuntu0.2
  alpine-3.18: nghttp2-libs -> 1.57.0-r1
CVE-2022-25315 | Critical | 9.8 | 2022-02-18 | - | Expat: integer overflow in storeRawNames
  debian-10: libexpat1 -> 2.2.6-2+deb10u3
CVE-2022-40674 | High | 8.1 | 2022-09-14 | - | Expat: use-after-free in doContent
  debian-10: libexpat1 -> 2.2.6-2+deb10u5
  debian-11: libexpat1 -> 2.2.10-2+deb11u4
CVE-2022-43680 | High | 7.5 | 2022-10-24 | - | Expat: use-after-free caused by overeager destruction of a shared DTD
  debian-11: libexpat1 -> 2.2.10-2+deb11u5
  alpine-3.16: expat -> 2.5.0-r0
CVE-2023-52425 | High | 7.5 | 2024-02-04 | - | Expat: denial of service parsing large tokens
  debian-12: libexpat1 -> 2.5.0-1+deb12u1
  debian-11: libexpat1 -> ! NoFixAvailable
  ubuntu-22.04: libexpat1 -> 2.4.7-1ubuntu0.3
  alpine-3.18: libexpat -> 2.6.0-r0
  mariner-2.0: expat, expat-libs -> 2.6.0-1.cm2
CVE-2024-45490 | Critical | 9.8 | 2024-08-30 | - | Expat: negative length passed to XML_ParseBuffer
  debian-12: libexpat1 -> 2.5.0-1+deb12u1
  debian-11: libexpat1 -> 2.2.10-2+deb11u6
  ubuntu-22.04: libexpat1 -> 2.4.7-1ubuntu0.4
  alpine-3.18: libexpat -> 2.6.3-r0
  mariner-2.0: expat, expat-libs -> 2.6.3-1.cm2
CVE-2024-45492 | Critical | 9.8 | 2024-08-30 | - | Expat: integer overflow in nextScaffoldPart
  debian-12: libexpat1 -> 2.5.0-1+deb12u1
  ubuntu-22.04: libexpat1 -> 2.4.7-1ubuntu0.4
  alpine-3.18: libexpat -> 2.6.3-r0
CVE-2018-25032 | High | 7.5 | 2022-03-25 | - | zlib: memory corruption when compressing input with many distant matches
  debian-10: zlib1g -> 1:1.2.11.dfsg-1+deb10u1
CVE-2022-37434 | Critical | 9.8 | 2022-08-05 | - | zlib: heap buffer overflow in inflateGetHeader via a large gzip header extra field
  debian-10: zlib1g -> 1:1.2.11.dfsg-1+deb10u2
  debian-11: zlib1g -> 1:1.2.11.dfsg-2+deb11u2
  alpine-3.16: zlib -> 1.2.12-r2
CVE-2023-45853 | Critical | 9.8 | 2023-10-14 | - | zlib: integer overflow in MiniZip zipOpenNewFileInZip4_64
  debian-12: zlib1g -> ! WontFix
  debian-11: zlib1g -> ! WontFix
  ubuntu-22.04: zlib1g -> ! NoFixAvailable
  alpine-3.18: zlib -> ! NoFixAvailable
  mariner-2.0: zlib -> 1.2.13-2.cm2
CVE-2022-29458 | High | 7.1 | 2022-04-18 | - | ncurses: out-of-bounds read in convert_strings in the terminfo library
  debian-11: libncursesw6, libtinfo6 -> 6.2+20201114-2+deb11u1
CVE-2023-29491 | High | 7.8 | 2023-04-14 | - | ncurses: memory corruption via malformed terminfo data
  debian-11: libncursesw6, libtinfo6 -> 6.2+20201114-2+deb11u2
  ubuntu-22.04: libncursesw6, libtinfo6, ncurses-base -> 6.3-2ubuntu0.1
  alpine-3.16: ncurses-libs, ncurses-terminfo-base -> 6.3_p20220521-r1
CVE-2023-50495 | Medium | 6.5 | 2023-12-12 | - | ncurses: segmentation fault via _nc_wrap_entry()
  debian-12: libncursesw6, libtinfo6, ncurses-base -> ! NoFixAvailable
  ubuntu-22.04: libncursesw6, libtinfo6 -> ! NoFixAvailable
  alpine-3.18: ncurses-libs -> 6.4_p20230506-r1
  mariner-2.0: ncurses-libs -> 6.4-2.cm2
CVE-2023-31484 | High | 8.1 | 2023-04-29 | - | Perl: CPAN.pm does not verify TLS certificates when downloading distributions
  debian-12: perl-base -> 5.36.0-7+deb12u1
  debian-11: perl-base -> 5.32.1-4+deb11u3
CVE-2023-47038 | High | 7.0 | 2023-12-18 | - | Perl: heap buffer overflow with a crafted regular expression
  debian-12: perl-base -> 5.36.0-7+deb12u1
  debian-11: perl-base -> 5.32.1-4+deb11u3
  ubuntu-22.04: perl-base -> 5.34.0-3ubuntu1.3
CVE-2020-16156 | High | 7.8 | 2021-12-13 | - | Perl: CPAN 2.28 signature verification bypass
  debian-10: perl-base -> ! WontFix
  debian-11: perl-base -> ! NoFixAvailable
CVE-2011-3374 | Low | 3.7 | 2019-11-26 | - | apt: key revocation not validated when verifying repository signatures
  debian-10: apt, libapt-pkg5.0 -> ! WontFix
  debian-11: apt, libapt-pkg6.0 -> ! WontFix
  debian-12: apt, libapt-pkg6.0 -> ! WontFix
  debian-13: apt, libapt-pkg6.0 -> ! WontFix
CVE-2022-0563 | Medium | 5.5 | 2022-02-21 | - | util-linux: partial disclosure of arbitrary files in chfn and chsh with readline
  debian-11: util-linux, libblkid1, libmount1, libsmartcols1, libuuid1 -> ! WontFix
  debian-12: util-linux, libblkid1, libmount1, libsmartcols1, libuuid1 -> ! WontFix
  debian-13: util-linux, libblkid1 -> ! WontFix
CVE-2016-2781 | Medium | 6.5 | 2017-02-07 | - | coreutils: chroot --userspec allows escape to the parent session via TIOCSTI
  debian-11: coreutils -> ! WontFix
  debian-12: coreutils -> ! WontFix
  ubuntu-22.04: coreutils -> ! NoFixAvailable
CVE-2017-18018 | Medium | 4.7 | 2018-01-04 | - | coreutils: race condition in chown and chgrp with -R -L
  debian-11: coreutils -> ! WontFix
  debian-12: coreutils -> ! WontFix
CVE-2024-0684 | Medium | 5.5 | 2024-02-06 | - | coreutils: heap overflow in split --line-bytes
  debian-12: coreutils -> ! NoFixAvailable
CVE-2022-27943 | Medium | 5.5 | 2022-03-26 | - | GCC: stack exhaustion in the libiberty demangler
  debian-12: libgcc-s1, libstdc++6, gcc-12-base -> ! WontFix
  ubuntu-22.04: libgcc-s1, libstdc++6, gcc-12-base -> ! NoFixAvailable
CVE-2023-4039 | Medium | 4.8 | 2023-09-13 | - | GCC: -fstack-protector does not guard dynamically sized stack allocations on ARM64
  debian-12: libgcc-s1, libstdc++6, gcc-12-base -> ! WontFix
  debian-13: libgcc-s1, libstdc++6 -> ! WontFix
  ubuntu-22.04: libgcc-s1, libstdc++6, gcc-12-base -> ! NoFixAvailable
CVE-2023-7008 | Medium | 5.9 | 2023-12-23 | - | systemd-resolved: unsigned DNSSEC response accepted as valid
  debian-12: libsystemd0, libudev1 -> ! NoFixAvailable
  debian-11: libsystemd0, libudev1 -> ! NoFixAvailable
  ubuntu-22.04: libsystemd0, libudev1 -> ! NoFixAvailable
CVE-2023-31437 | Medium | 5.3 | 2023-06-13 | - | systemd: sealed journal log entries can be modified (disputed)
  debian-11: libsystemd0, libudev1 -> ! WontFix
  debian-12: libsystemd0, libudev1 -> ! WontFix
CVE-2023-26604 | High | 7.8 | 2023-03-03 | - | systemd: local privilege escalation via sudo and the systemctl pager
  debian-10: libsystemd0, libudev1 -> ! WontFix
CVE-2022-2509 | High | 7.5 | 2022-08-01 | - | GnuTLS: double free during verification of PKCS#7 signatures
  debian-10: libgnutls30 -> 3.6.7-4+deb10u9
  debian-11: libgnutls30 -> 3.7.1-5+deb11u2
CVE-2024-0553 | High | 7.5 | 2024-01-16 | - | GnuTLS: timing side channel in RSA-PSK key exchange (incomplete fix)
  debian-11: libgnutls30 -> 3.7.1-5+deb11u5
  debian-12: libgnutls30 -> 3.7.9-2+deb12u2
  ubuntu-22.04: libgnutls30 -> 3.7.3-4ubuntu1.4
CVE-2024-37371 | Critical | 9.1 | 2024-06-28 | - | Kerberos 5: invalid memory reads during GSS message token handling
  debian-12: libkrb5-3, libgssapi-krb5-2 -> 1.20.1-2+deb12u2
  debian-11: libkrb5-3, libgssapi-krb5-2 -> 1.18.3-6+deb11u5
  ubuntu-22.04: libkrb5-3, libgssapi-krb5-2 -> 1.19.2-2ubuntu0.4
  mariner-2.0: krb5 -> 1.19.4-2.cm2
CVE-2024-26458 | Medium | 5.3 | 2024-02-29 | - | Kerberos 5: memory leak in rpc/pmap_rmt.c
  debian-12: libkrb5-3, libgssapi-krb5-2 -> ! NoFixAvailable
  debian-11: libkrb5-3, libgssapi-krb5-2 -> ! NoFixAvailable
  ubuntu-22.04: libkrb5-3, libgssapi-krb5-2 -> 1.19.2-2ubuntu0.4
CVE-2023-2953 | High | 7.5 | 2023-05-30 | - | OpenLDAP: null pointer dereference in ber_memalloc_x()
  debian-12: libldap-2.5-0 -> ! NoFixAvailable
  debian-11: libldap-2.4-2 -> ! NoFixAvailable
  ubuntu-22.04: libldap-2.5-0 -> 2.5.16+dfsg-0ubuntu0.22.04.1
CVE-2022-35737 | High | 7.5 | 2022-08-03 | - | SQLite: array-bounds overflow with billions of bytes in a string argument
  debian-11: libsqlite3-0 -> 3.34.1-3+deb11u1
  debian-10: libsqlite3-0 -> ! WontFix
CVE-2023-7104 | High | 7.3 | 2023-12-29 | - | SQLite: heap buffer overflow in sessionReadRecord
  debian-12: libsqlite3-0 -> 3.40.1-2+deb12u1
  debian-11: libsqlite3-0 -> ! NoFixAvailable
  ubuntu-22.04: libsqlite3-0 -> 3.37.2-2ubuntu0.3
  alpine-3.18: sqlite-libs -> 3.41.2-r3
  mariner-2.0: sqlite-libs -> 3.39.2-4.cm2
CVE-2022-40303 | High | 7.5 | 2022-11-23 | - | libxml2: integer overflows with XML_PARSE_HUGE
  debian-11: libxml2 -> 2.9.10+dfsg-6.7+deb11u3
CVE-2022-40304 | High | 7.5 | 2022-11-23 | - | libxml2: dict corruption caused by entity reference cycles
  debian-11: libxml2 -> 2.9.10+dfsg-6.7+deb11u3
CVE-2024-25062 | High | 7.5 | 2024-02-04 | - | libxml2: use-after-free in xmlValidatePopElement with the XML Reader interface
  debian-12: libxml2 -> 2.9.14+dfsg-1.3~deb12u1
  debian-11: libxml2 -> 2.9.10+dfsg-6.7+deb11u4
  ubuntu-22.04: libxml2 -> 2.9.13+dfsg-1ubuntu0.4
  alpine-3.18: libxml2 -> 2.11.7-r0
  mariner-2.0: libxml2 -> 2.10.4-3.cm2
CVE-2023-45322 | Medium | 6.5 | 2023-10-06 | - | libxml2: use-after-free in xmlUnlinkNode (disputed)
  debian-12: libxml2 -> ! WontFix
  ubuntu-22.04: libxml2 -> ! NoFixAvailable
CVE-2023-39615 | Medium | 6.5 | 2023-08-29 | - | libxml2: out-of-bounds read in xmlSAX2StartElement with crafted XML
  debian-12: libxml2 -> ! NoFixAvailable
  debian-11: libxml2 -> ! NoFixAvailable
CVE-2019-12900 | Critical | 9.8 | 2019-06-19 | - | bzip2: out-of-bounds write in BZ2_decompress with many selectors
  debian-10: libbz2-1.0, bzip2 -> 1.0.6-9.2~deb10u1
CVE-2024-3094 | Critical | 10.0 | 2024-03-29 | x | xz-utils: malicious backdoor in liblzma 5.6.0 and 5.6.1
  debian-13: liblzma5, xz-utils -> 5.6.1+really5.4.5-1
CVE-2022-1271 | High | 8.8 | 2022-08-31 | - | gzip: zgrep arbitrary file write via crafted file names
  debian-10: gzip -> 1.9-3+deb10u1
  debian-11: gzip -> 1.10-4+deb11u1
CVE-2022-1304 | High | 7.8 | 2022-04-14 | - | e2fsprogs: out-of-bounds read and write via a crafted filesystem
  debian-11: e2fsprogs, libcom-err2, libext2fs2, libss2 -> 1.46.2-2+deb11u1
CVE-2022-3715 | High | 7.8 | 2023-01-05 | - | Bash: heap buffer overflow in valid_parameter_transform
  debian-11: bash -> 5.1-2+deb11u1
  ubuntu-22.04: bash -> 5.1-6ubuntu1.1
CVE-2022-48303 | Medium | 5.5 | 2023-01-30 | - | GNU tar: one-byte out-of-bounds read with V7 archives
  debian-11: tar -> 1.34+dfsg-1+deb11u1
  debian-12: tar -> 1.34+dfsg-1.2+deb12u1
CVE-2024-6387 | High | 8.1 | 2024-07-01 | x | OpenSSH: signal handler race in sshd allows unauthenticated remote code execution (regreSSHion)
  debian-12: openssh-client -> 1:9.2p1-2+deb12u3
  ubuntu-22.04: openssh-client, openssh-server, openssh-sftp-server -> 1:8.9p1-3ubuntu0.10
CVE-2023-48795 | Medium | 5.9 | 2023-12-18 | - | SSH Terrapin attack: prefix truncation weakens channel integrity
  debian-12: openssh-client -> 1:9.2p1-2+deb12u2
  debian-11: openssh-client -> 1:8.4p1-5+deb11u3
  ubuntu-22.04: openssh-client, openssh-server -> 1:8.9p1-3ubuntu0.6
  alpine-3.18: openssh-client -> 9.3_p2-r1
  go: golang.org/x/crypto -> v0.17.0
CVE-2023-51385 | Medium | 6.5 | 2023-12-18 | - | OpenSSH: OS command injection via shell metacharacters in user or host names
  debian-12: openssh-client -> 1:9.2p1-2+deb12u2
  debian-11: openssh-client -> 1:8.4p1-5+deb11u3
  ubuntu-22.04: openssh-client -> 1:8.9p1-3ubuntu0.6
CVE-2023-4641 | Medium | 4.7 | 2023-12-27 | - | shadow: gpasswd leaves the password in memory
  debian-12: login, passwd -> ! NoFixAvailable
  debian-11: login, passwd -> ! NoFixAvailable
  ubuntu-22.04: login, passwd -> 1:4.8.1-2ubuntu2.2
CVE-2007-5686 | Medium | 4.9 | 2007-10-28 | - | shadow: initscripts create world-readable btmp log files
  debian-10: login, passwd -> ! WontFix
  debian-11: login, passwd -> ! WontFix
  debian-12: login, passwd -> ! WontFix
CVE-2024-22365 | Medium | 5.5 | 2024-02-06 | - | Linux-PAM: pam_namespace denial of service via a FIFO in the user's home
  debian-12: libpam0g, libpam-modules -> ! NoFixAvailable
  debian-11: libpam0g, libpam-modules -> ! NoFixAvailable
  ubuntu-22.04: libpam0g, libpam-modules -> 1.4.0-11ubuntu2.4
CVE-2023-4016 | Low | 3.3 | 2023-08-02 | - | procps: heap buffer overflow in ps with a long --sort argument
  debian-12: libproc2-0, procps -> ! NoFixAvailable
  debian-11: libprocps8, procps -> ! NoFixAvailable
  ubuntu-22.04: libprocps8, procps -> 2:3.3.17-6ubuntu2.1
CVE-2022-3219 | Low | 3.3 | 2023-02-23 | - | GnuPG: denial of service via compressed packet amplification
  debian-12: gpgv -> ! WontFix
  debian-11: gpgv -> ! WontFix
  ubuntu-22.04: gpgv -> ! NoFixAvailable
CVE-2022-4899 | High | 7.5 | 2023-03-31 | - | zstd: denial of service via an empty --output-dir-flat argument
  debian-12: libzstd1 -> ! NoFixAvailable
  ubuntu-22.04: libzstd1 -> ! NoFixAvailable
CVE-2017-11164 | High | 7.5 | 2017-07-11 | - | PCRE: stack exhaustion in match() with recursive patterns
  debian-10: libpcre3 -> ! WontFix
  debian-11: libpcre3 -> ! WontFix
  ubuntu-22.04: libpcre3 -> ! NoFixAvailable
CVE-2022-48174 | Critical | 9.8 | 2023-08-22 | - | BusyBox: stack overflow in the ash shell
  alpine-3.16: busybox, ssl_client -> 1.35.0-r18
CVE-2023-42363 | Medium | 5.5 | 2023-11-27 | - | BusyBox: use-after-free in awk xasprintf
  alpine-3.18: busybox, busybox-binsh, ssl_client -> 1.36.1-r6
  alpine-3.16: busybox -> ! NoFixAvailable
CVE-2023-42364 | Medium | 5.5 | 2023-11-27 | - | BusyBox: use-after-free in awk evaluate
  alpine-3.18: busybox, busybox-binsh -> 1.36.1-r7
CVE-2023-42365 | Medium | 5.5 | 2023-11-27 | - | BusyBox: use-after-free in awk with crafted input
  alpine-3.18: busybox, busybox-binsh -> 1.36.1-r7
CVE-2023-42366 | Medium | 5.5 | 2023-11-27 | - | BusyBox: heap buffer overflow in awk next_token
  alpine-3.18: busybox -> 1.36.1-r6
CVE-2024-25629 | Medium | 4.4 | 2024-02-23 | - | c-ares: out-of-bounds read in configuration parsing with NULL bytes
  alpine-3.18: c-ares -> 1.20.1-r0
CVE-2023-24329 | High | 7.5 | 2023-02-17 | - | CPython: urllib.parse blocklist bypass with leading blank characters
  ubuntu-22.04: python3.10, libpython3.10-minimal, libpython3.10-stdlib -> 3.10.12-1~22.04.1
CVE-2007-4559 | Medium | 6.8 | 2007-08-28 | - | CPython: tarfile directory traversal via crafted member names
  ubuntu-22.04: python3.10, libpython3.10-stdlib -> ! NoFixAvailable
CVE-2023-27043 | Medium | 5.3 | 2023-04-19 | - | CPython: email module parses addresses with special characters incorrectly
  ubuntu-22.04: python3.10, libpython3.10-stdlib -> 3.10.12-1~22.04.5
CVE-2024-6232 | High | 7.5 | 2024-09-03 | - | CPython: regular expression denial of service in tarfile header parsing
  ubuntu-22.04: python3.10, libpython3.10-stdlib -> 3.10.12-1~22.04.6
CVE-2023-39325 | High | 7.5 | 2023-10-11 | - | Go net/http, x/net/http2: rapid stream resets cause excessive work
  go: stdlib -> 1.20.10
  go: golang.org/x/net -> v0.17.0
CVE-2023-39318 | Medium | 6.1 | 2023-09-08 | - | Go html/template: improper handling of HTML-like comments in script contexts
  go: stdlib -> 1.20.8
CVE-2023-39319 | Medium | 6.1 | 2023-09-08 | - | Go html/template: improper handling of special tags within script contexts
  go: stdlib -> 1.20.8
CVE-2023-39326 | Medium | 5.3 | 2023-12-06 | - | Go net/http: excessive resource consumption reading chunk extensions
  go: stdlib -> 1.20.12
CVE-2023-45288 | High | 7.5 | 2024-04-04 | - | Go net/http, x/net/http2: unlimited CONTINUATION frames cause denial of service
  go: stdlib -> 1.21.9
  go: golang.org/x/net -> v0.23.0
CVE-2023-45289 | Medium | 6.1 | 2024-03-05 | - | Go net/http: sensitive headers forwarded on redirect to a non-matching subdomain
  go: stdlib -> 1.21.8
CVE-2023-45290 | Medium | 6.5 | 2024-03-05 | - | Go net/http: memory exhaustion in Request.ParseMultipartForm
  go: stdlib -> 1.21.8
CVE-2024-24783 | Medium | 5.9 | 2024-03-05 | - | Go crypto/x509: Verify panics on certificates with an unknown public key algorithm
  go: stdlib -> 1.21.8
CVE-2024-24784 | High | 7.5 | 2024-03-05 | - | Go net/mail: comments in display names are incorrectly handled
  go: stdlib -> 1.21.8
CVE-2024-24785 | Medium | 6.5 | 2024-03-05 | - | Go html/template: errors from MarshalJSON methods may break template escaping
  go: stdlib -> 1.21.8
CVE-2024-24789 | Medium | 5.5 | 2024-06-05 | - | Go archive/zip: mishandling of corrupt central directory records
  go: stdlib -> 1.21.11
CVE-2024-24790 | Critical | 9.8 | 2024-06-05 | - | Go net/netip: unexpected behavior from Is methods for IPv4-mapped IPv6 addresses
  go: stdlib -> 1.21.11
CVE-2024-24791 | High | 7.5 | 2024-07-02 | - | Go net/http: denial of service due to improper 100-continue handling
  go: stdlib -> 1.21.12
CVE-2024-34155 | Medium | 4.3 | 2024-09-06 | - | Go go/parser: stack exhaustion in all Parse functions
  go: stdlib -> 1.22.7
CVE-2024-34156 | High | 7.5 | 2024-09-06 | - | Go encoding/gob: stack exhaustion in Decoder.Decode
  go: stdlib -> 1.22.7
CVE-2024-34158 | High | 7.5 | 2024-09-06 | - | Go go/build/constraint: stack exhaustion in Parse
  go: stdlib -> 1.22.7
CVE-2024-45337 | Critical | 9.1 | 2024-12-12 | - | golang.org/x/crypto/ssh: misuse of ServerConfig.PublicKeyCallback may cause authorization bypass
  go: golang.org/x/crypto -> v0.31.0
CVE-2025-22869 | High | 7.5 | 2025-02-26 | - | golang.org/x/crypto/ssh: denial of service in the key exchange
  go: golang.org/x/crypto -> v0.35.0
CVE-2024-45338 | Medium | 5.3 | 2024-12-18 | - | golang.org/x/net/html: non-linear parsing of case-insensitive content
  go: golang.org/x/net -> v0.33.0
CVE-2025-22870 | Medium | 4.4 | 2025-03-12 | - | golang.org/x/net/http/httpproxy: proxy bypass using IPv6 zone IDs
  go: golang.org/x/net -> v0.36.0
CVE-2024-24786 | Medium | 5.9 | 2024-03-05 | - | protobuf-go: protojson.Unmarshal infinite loop on invalid JSON
  go: google.golang.org/protobuf -> v1.33.0
CVE-2023-45142 | High | 7.5 | 2023-10-12 | - | OpenTelemetry otelhttp: unbound cardinality metrics cause memory exhaustion
  go: go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp -> v0.44.0
CVE-2023-47108 | High | 7.5 | 2023-11-10 | - | OpenTelemetry otelgrpc: unbound cardinality metrics cause memory exhaustion
  go: go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc -> v0.46.0
CVE-2024-28180 | Medium | 4.3 | 2024-03-09 | - | go-jose: denial of service when decompressing a crafted JWE
  go: github.com/go-jose/go-jose/v3 -> v3.0.3
CVE-2025-30204 | High | 7.5 | 2025-03-21 | - | golang-jwt: excessive memory allocation during header parsing
  go: github.com/golang-jwt/jwt/v4 -> v4.5.2
CVE-2022-28948 | High | 7.5 | 2022-05-19 | - | go-yaml v3: panic in Unmarshal on crafted input
  go: gopkg.in/yaml.v3 -> v3.0.0
CVE-2024-21626 | High | 8.6 | 2024-01-31 | x | runc: container breakout through a leaked file descriptor (Leaky Vessels)
  go-runc: github.com/opencontainers/runc -> v1.1.12
CVE-2024-41110 | Critical | 9.9 | 2024-07-24 | - | Moby: authorization plugin bypass with zero-length request bodies
  go-runc: github.com/docker/docker -> v25.0.6+incompatible
CVE-2021-44228 | Critical | 10.0 | 2021-12-10 | x | Apache Log4j2: JNDI lookup remote code execution (Log4Shell)
  java-legacy: org.apache.logging.log4j:log4j-core -> 2.15.0
CVE-2021-45046 | Critical | 9.0 | 2021-12-14 | x | Apache Log4j2: incomplete fix for CVE-2021-44228 in non-default configurations
  java-legacy: org.apache.logging.log4j:log4j-core -> 2.16.0
CVE-2021-45105 | Medium | 5.9 | 2021-12-18 | - | Apache Log4j2: uncontrolled recursion in lookup evaluation
  java-legacy: org.apache.logging.log4j:log4j-core -> 2.17.0
CVE-2021-44832 | Medium | 6.6 | 2021-12-28 | - | Apache Log4j2: remote code execution via the JDBC Appender with attacker-controlled configuration
  java-legacy: org.apache.logging.log4j:log4j-core -> 2.17.1
CVE-2022-22965 | Critical | 9.8 | 2022-04-01 | x | Spring Framework: remote code execution via data binding on JDK 9+ (Spring4Shell)
  java-legacy: org.springframework:spring-beans -> 5.3.18
CVE-2022-22950 | Medium | 6.5 | 2022-04-01 | - | Spring Framework: denial of service via a crafted SpEL expression
  java-legacy: org.springframework:spring-expression -> 5.3.17
CVE-2022-22970 | Medium | 5.3 | 2022-05-12 | - | Spring Framework: denial of service via data binding to MultipartFile
  java-legacy: org.springframework:spring-beans -> 5.3.20
CVE-2022-22963 | Critical | 9.8 | 2022-04-01 | x | Spring Cloud Function: SpEL injection via the routing functionality
  java-legacy: org.springframework.cloud:spring-cloud-function-context -> 3.1.7
CVE-2016-1000027 | Critical | 9.8 | 2020-01-02 | - | Spring Framework: deserialization of untrusted data in HttpInvokerServiceExporter
  java: org.springframework:spring-web -> 6.0.0
  java-legacy: org.springframework:spring-web -> 6.0.0
CVE-2024-22243 | High | 8.1 | 2024-02-23 | - | Spring Framework: open redirect and SSRF via UriComponentsBuilder URL parsing
  java: org.springframework:spring-web -> 5.3.32
CVE-2024-22259 | High | 8.1 | 2024-03-16 | - | Spring Framework: URL parsing with host validation (second report)
  java: org.springframework:spring-web -> 5.3.33
CVE-2024-22262 | High | 8.1 | 2024-04-16 | - | Spring Framework: URL parsing with host validation (third report)
  java: org.springframework:spring-web -> 5.3.34
CVE-2024-38816 | High | 7.5 | 2024-09-13 | - | Spring Framework: path traversal in functional web frameworks serving static resources
  java: org.springframework:spring-webmvc -> ! NoFixAvailable
CVE-2024-38821 | Critical | 9.1 | 2024-10-28 | - | Spring Security: authorization bypass of static resources in WebFlux applications
  java: org.springframework.security:spring-security-web -> 5.7.13
CVE-2023-46589 | High | 7.5 | 2023-11-28 | - | Apache Tomcat: request smuggling via improper trailer header handling
  java: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.83
CVE-2023-42795 | Medium | 5.3 | 2023-10-10 | - | Apache Tomcat: information disclosure from incomplete recycling of internal objects
  java: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.81
CVE-2024-24549 | High | 7.5 | 2024-03-13 | - | Apache Tomcat: HTTP/2 header limits not enforced until all headers are processed
  java: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.86
CVE-2024-34750 | High | 7.5 | 2024-07-03 | - | Apache Tomcat: improper HTTP/2 stream handling allows denial of service
  java: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.90
CVE-2024-50379 | Critical | 9.8 | 2024-12-17 | - | Apache Tomcat: TOCTOU race during JSP compilation allows remote code execution
  java: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.98
CVE-2025-24813 | Critical | 9.8 | 2025-03-10 | x | Apache Tomcat: remote code execution and information disclosure via partial PUT
  java: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.99
  java-legacy: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.99
CVE-2022-42252 | High | 7.5 | 2022-11-01 | - | Apache Tomcat: request smuggling via an invalid Content-Length header
  java-legacy: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.68
CVE-2023-24998 | High | 7.5 | 2023-02-20 | - | Apache Commons FileUpload: denial of service via an unlimited number of request parts
  java-legacy: commons-fileupload:commons-fileupload -> 1.5
  java-legacy: org.apache.tomcat.embed:tomcat-embed-core -> 9.0.71
CVE-2023-35116 | Medium | 4.7 | 2023-06-14 | - | jackson-databind: denial of service via cyclic dependencies (disputed)
  java: com.fasterxml.jackson.core:jackson-databind -> ! NoFixAvailable
  java-legacy: com.fasterxml.jackson.core:jackson-databind -> ! NoFixAvailable
CVE-2020-36518 | High | 7.5 | 2022-03-11 | - | jackson-databind: stack overflow via deeply nested objects
  java-legacy: com.fasterxml.jackson.core:jackson-databind -> 2.12.6.1
CVE-2022-42003 | High | 7.5 | 2022-10-02 | - | jackson-databind: resource exhaustion via deep wrapper array nesting
  java-legacy: com.fasterxml.jackson.core:jackson-databind -> 2.12.7.1
CVE-2022-42004 | High | 7.5 | 2022-10-02 | - | jackson-databind: resource exhaustion in BeanDeserializer._deserializeFromArray
  java-legacy: com.fasterxml.jackson.core:jackson-databind -> 2.12.7.1
CVE-2022-1471 | High | 8.3 | 2022-12-01 | x | SnakeYAML: Constructor deserialization allows remote code execution
  java: org.yaml:snakeyaml -> 2.0
  java-legacy: org.yaml:snakeyaml -> 2.0
CVE-2022-25857 | High | 7.5 | 2022-08-30 | - | SnakeYAML: denial of service due to missing nested depth limit for collections
  java-legacy: org.yaml:snakeyaml -> 1.31
CVE-2022-38752 | Medium | 6.5 | 2022-09-05 | - | SnakeYAML: stack overflow parsing untrusted YAML
  java: org.yaml:snakeyaml -> 1.32
  java-legacy: org.yaml:snakeyaml -> 1.32
CVE-2022-41854 | Medium | 6.5 | 2022-11-11 | - | SnakeYAML: stack overflow with deeply nested structures
  java: org.yaml:snakeyaml -> 1.32
CVE-2023-6378 | High | 7.5 | 2023-11-29 | - | logback: serialization vulnerability in the receiver component
  java: ch.qos.logback:logback-classic -> 1.2.13
  java-legacy: ch.qos.logback:logback-classic -> 1.2.13
CVE-2023-6481 | High | 7.1 | 2023-12-04 | - | logback: denial of service via poisoned serialized data in the receiver
  java: ch.qos.logback:logback-core -> 1.2.13
CVE-2021-42550 | Medium | 6.6 | 2021-12-16 | - | logback: JNDI lookup via attacker-controlled configuration
  java-legacy: ch.qos.logback:logback-classic -> 1.2.9
CVE-2024-29025 | Medium | 5.3 | 2024-03-25 | - | Netty: HttpPostRequestDecoder allows unbounded accumulation of form fields
  java: io.netty:netty-codec-http -> 4.1.108.Final
CVE-2021-37136 | High | 7.5 | 2021-10-19 | - | Netty: Bzip2 decompression without a size limit
  java-legacy: io.netty:netty-codec -> 4.1.68.Final
CVE-2021-37137 | High | 7.5 | 2021-10-19 | - | Netty: Snappy decompression without a size limit
  java-legacy: io.netty:netty-codec -> 4.1.68.Final
CVE-2023-34062 | High | 7.5 | 2023-11-28 | - | Reactor Netty: directory traversal when serving static resources
  java: io.projectreactor.netty:reactor-netty-http -> 1.0.39
CVE-2023-2976 | High | 7.1 | 2023-06-14 | - | Guava: insecure temporary directory in FileBackedOutputStream
  java: com.google.guava:guava -> 32.0.0-jre
  java-legacy: com.google.guava:guava -> 32.0.0-jre
CVE-2020-8908 | Low | 3.3 | 2020-12-10 | - | Guava: temporary directory created with insecure permissions by Files.createTempDir
  java: com.google.guava:guava -> 32.0.0-jre
  java-legacy: com.google.guava:guava -> 32.0.0-jre
CVE-2023-1370 | High | 7.5 | 2023-03-22 | - | json-smart: stack exhaustion via deeply nested arrays or objects
  java: net.minidev:json-smart -> 2.4.9
CVE-2024-1597 | Critical | 9.8 | 2024-02-19 | - | PostgreSQL JDBC driver: SQL injection with PreferQueryMode=SIMPLE
  java: org.postgresql:postgresql -> 42.3.9
  java-legacy: org.postgresql:postgresql -> 42.2.28
CVE-2022-21724 | Critical | 9.8 | 2022-02-02 | - | PostgreSQL JDBC driver: unchecked class instantiation from connection properties
  java-legacy: org.postgresql:postgresql -> 42.2.25
CVE-2023-25194 | High | 8.8 | 2023-02-07 | - | Apache Kafka Connect: JNDI injection via the SASL JAAS configuration
  java: org.apache.kafka:kafka-clients -> 3.4.0
CVE-2024-31141 | Medium | 6.5 | 2024-11-19 | - | Apache Kafka clients: privilege escalation to filesystem read access via config providers
  java: org.apache.kafka:kafka-clients -> 3.7.1
CVE-2024-47554 | Medium | 4.3 | 2024-10-03 | - | Apache Commons IO: possible denial of service on untrusted XmlStreamReader input
  java: commons-io:commons-io -> 2.14.0
CVE-2024-25710 | High | 8.1 | 2024-02-19 | - | Apache Commons Compress: infinite loop reading corrupted DUMP files
  java: org.apache.commons:commons-compress -> 1.26.0
CVE-2024-26308 | Medium | 5.5 | 2024-02-19 | - | Apache Commons Compress: OutOfMemoryError unpacking a broken Pack200 file
  java: org.apache.commons:commons-compress -> 1.26.0
CVE-2024-30171 | Medium | 5.9 | 2024-05-14 | - | Bouncy Castle: timing side channel in RSA handshakes (Marvin attack)
  java: org.bouncycastle:bcprov-jdk18on -> 1.78
CVE-2022-42889 | Critical | 9.8 | 2022-10-13 | x | Apache Commons Text: remote code execution via variable interpolation (Text4Shell)
  java-legacy: org.apache.commons:commons-text -> 1.10.0
CVE-2021-42392 | Critical | 9.8 | 2022-01-10 | - | H2 Database: JNDI remote code execution in the H2 console
  java-legacy: com.h2database:h2 -> 2.0.206
CVE-2022-23221 | Critical | 9.8 | 2022-01-19 | - | H2 Database: remote code execution via a JDBC URL with INIT and IGNORE_UNKNOWN_SETTINGS
  java-legacy: com.h2database:h2 -> 2.1.210
CVE-2023-46604 | Critical | 9.8 | 2023-10-27 | x | Apache ActiveMQ: remote code execution via OpenWire deserialization
  java-legacy: org.apache.activemq:activemq-client -> 5.16.7
CVE-2022-40897 | Medium | 5.9 | 2022-12-23 | - | setuptools: regular expression denial of service in package_index
  python: setuptools -> 65.5.1
CVE-2024-6345 | High | 8.8 | 2024-07-15 | - | setuptools: remote code execution via package_index download functions
  python: setuptools -> 70.0.0
CVE-2023-32681 | Medium | 6.1 | 2023-05-26 | - | Requests: Proxy-Authorization header leaked on HTTPS redirects
  python: requests -> 2.31.0
CVE-2024-35195 | Medium | 5.6 | 2024-05-20 | - | Requests: Session keeps verify=False for subsequent requests to the same host
  python: requests -> 2.32.0
CVE-2024-47081 | Medium | 5.3 | 2025-06-09 | - | Requests: .netrc credentials leaked via maliciously crafted URLs
  python: requests -> 2.32.4
CVE-2022-23491 | Medium | 6.8 | 2022-12-07 | - | certifi: removal of TrustCor root certificates
  python: certifi -> 2022.12.7
CVE-2023-37920 | High | 7.5 | 2023-07-25 | - | certifi: removal of e-Tugra root certificates
  python: certifi -> 2023.7.22
CVE-2024-39689 | High | 7.5 | 2024-07-05 | - | certifi: removal of GLOBALTRUST root certificates
  python: certifi -> 2024.7.4
CVE-2023-43804 | High | 8.1 | 2023-10-04 | - | urllib3: Cookie header not stripped on cross-origin redirects
  python: urllib3 -> 1.26.17
CVE-2023-45803 | Medium | 4.2 | 2023-10-17 | - | urllib3: request body not stripped after a 303 redirect
  python: urllib3 -> 1.26.18
CVE-2024-37891 | Medium | 4.4 | 2024-06-17 | - | urllib3: Proxy-Authorization header not stripped on cross-origin redirects
  python: urllib3 -> 1.26.19
CVE-2023-5752 | Low | 3.3 | 2023-10-25 | - | pip: Mercurial configuration injectable in a repository revision
  python: pip -> 23.3
CVE-2023-49083 | High | 7.5 | 2023-11-29 | - | cryptography: NULL pointer dereference loading PKCS7 certificates
  python: cryptography -> 41.0.6
CVE-2023-50782 | High | 7.5 | 2024-02-05 | - | cryptography: Bleichenbacher timing oracle in RSA decryption
  python: cryptography -> 42.0.0
CVE-2024-26130 | High | 7.5 | 2024-02-21 | - | cryptography: NULL pointer dereference in pkcs12.serialize_key_and_certificates
  python: cryptography -> 42.0.4
CVE-2023-38325 | High | 7.5 | 2023-07-14 | - | cryptography: mishandling of SSH certificate critical options
  python: cryptography -> 41.0.2
CVE-2023-30861 | High | 7.5 | 2023-05-02 | - | Flask: session cookie may be cached and shared by caching proxies
  python: flask -> 2.2.5
CVE-2023-25577 | High | 7.5 | 2023-02-14 | - | Werkzeug: high resource usage parsing multipart form data with many fields
  python: werkzeug -> 2.2.3
CVE-2023-23934 | Low | 3.5 | 2023-02-14 | - | Werkzeug: nameless cookies allow shadowing of secure cookies
  python: werkzeug -> 2.2.3
CVE-2023-46136 | Medium | 5.7 | 2023-10-25 | - | Werkzeug: high CPU usage parsing crafted multipart data
  python: werkzeug -> 2.3.8
CVE-2024-34069 | High | 7.5 | 2024-05-06 | - | Werkzeug: debugger remote code execution via an attacker-controlled domain
  python: werkzeug -> 3.0.3
CVE-2024-22195 | Medium | 5.4 | 2024-01-11 | - | Jinja2: HTML attribute injection via the xmlattr filter
  python: jinja2 -> 3.1.3
CVE-2024-34064 | Medium | 5.4 | 2024-05-06 | - | Jinja2: xmlattr filter accepts keys containing non-attribute characters
  python: jinja2 -> 3.1.4
CVE-2024-56201 | Medium | 5.4 | 2024-12-23 | - | Jinja2: sandbox breakout through malicious template file names
  python: jinja2 -> 3.1.5
CVE-2025-27516 | Medium | 5.4 | 2025-03-05 | - | Jinja2: sandbox breakout through the attr filter selecting format methods
  python: jinja2 -> 3.1.6
CVE-2024-3651 | Medium | 6.2 | 2024-07-07 | - | idna: denial of service via crafted input to idna.encode()
  python: idna -> 3.7
CVE-2024-1135 | High | 8.2 | 2024-04-16 | - | Gunicorn: HTTP request smuggling via conflicting Transfer-Encoding headers
  python: gunicorn -> 22.0.0
CVE-2024-6827 | High | 7.5 | 2025-03-20 | - | Gunicorn: request smuggling due to improper Transfer-Encoding validation
  python: gunicorn -> 22.0.0
CVE-2023-47627 | Medium | 5.3 | 2023-11-14 | - | aiohttp: request smuggling via lenient HTTP header parsing
  python: aiohttp -> 3.8.6
CVE-2024-23334 | High | 7.5 | 2024-01-29 | x | aiohttp: directory traversal when follow_symlinks is enabled for static routes
  python: aiohttp -> 3.9.2
CVE-2024-30251 | High | 7.5 | 2024-05-02 | - | aiohttp: infinite loop on a malformed multipart POST
  python: aiohttp -> 3.9.4
CVE-2022-42969 | High | 7.5 | 2022-10-16 | - | py: regular expression denial of service in SVN repository info parsing (disputed)
  python: py -> ! NoFixAvailable
CVE-2023-30608 | Medium | 5.3 | 2023-04-18 | - | sqlparse: regular expression denial of service in the SQL parser
  python: sqlparse -> 0.4.4
CVE-2024-4340 | High | 7.5 | 2024-04-15 | - | sqlparse: stack exhaustion parsing deeply nested lists
  python: sqlparse -> 0.5.0
CVE-2023-44271 | High | 7.5 | 2023-11-03 | - | Pillow: uncontrolled resource consumption in ImageFont text length
  python-ml: pillow -> 10.0.0
CVE-2023-50447 | High | 8.1 | 2024-01-19 | - | Pillow: arbitrary code execution via the PIL.ImageMath.eval environment parameter
  python-ml: pillow -> 10.2.0
CVE-2024-28219 | Medium | 6.7 | 2024-04-03 | - | Pillow: buffer overflow in _imagingcms.c
  python-ml: pillow -> 10.3.0
CVE-2025-32434 | Critical | 9.3 | 2025-04-18 | - | PyTorch: remote code execution via torch.load with weights_only=True
  python-ml: torch -> 2.6.0
CVE-2023-6730 | High | 8.8 | 2023-12-19 | - | Hugging Face Transformers: deserialization of untrusted data in RagRetriever
  python-ml: transformers -> 4.36.0
CVE-2024-3568 | High | 8.8 | 2024-04-10 | - | Hugging Face Transformers: arbitrary code execution via pickled checkpoint loading
  python-ml: transformers -> 4.38.0
CVE-2024-29041 | Medium | 6.1 | 2024-03-25 | - | Express: open redirect with malformed URLs
  npm: express -> 4.19.2
CVE-2024-43796 | Medium | 4.7 | 2024-09-10 | - | Express: cross-site scripting in response.redirect()
  npm: express -> 4.20.0
CVE-2024-45590 | High | 7.5 | 2024-09-10 | - | body-parser: denial of service when URL encoding is enabled
  npm: body-parser -> 1.20.3
CVE-2024-45296 | High | 7.5 | 2024-09-09 | - | path-to-regexp: backtracking regular expressions (ReDoS)
  npm: path-to-regexp -> 0.1.10
CVE-2024-52798 | High | 7.5 | 2024-12-05 | - | path-to-regexp: ReDoS in 0.1.x route parameters (incomplete fix)
  npm: path-to-regexp -> 0.1.12
CVE-2024-43799 | Medium | 4.7 | 2024-09-10 | - | send: template injection that can lead to cross-site scripting
  npm: send -> 0.19.0
CVE-2024-43800 | Medium | 4.7 | 2024-09-10 | - | serve-static: template injection that can lead to cross-site scripting
  npm: serve-static -> 1.16.0
CVE-2024-47764 | Low | 3.7 | 2024-10-04 | - | cookie: accepts out-of-bounds characters in name, path and domain
  npm: cookie -> 0.7.0
CVE-2022-25883 | High | 7.5 | 2023-06-21 | - | semver: regular expression denial of service in new Range
  npm: semver -> 7.5.2
CVE-2023-26136 | Medium | 6.5 | 2023-07-01 | - | tough-cookie: prototype pollution with rejectPublicSuffixes=false
  npm: tough-cookie -> 4.1.3
CVE-2024-4068 | High | 7.5 | 2024-05-14 | - | braces: uncontrolled resource consumption with imbalanced braces
  npm: braces -> 3.0.3
CVE-2024-4067 | Medium | 5.3 | 2024-05-14 | - | micromatch: regular expression denial of service in micromatch.braces()
  npm: micromatch -> 4.0.8
CVE-2024-37890 | High | 7.5 | 2024-06-17 | - | ws: denial of service when handling a request with many HTTP headers
  npm: ws -> 8.17.1
CVE-2023-26159 | Medium | 6.1 | 2024-01-02 | - | follow-redirects: improper input validation via url.parse()
  npm: follow-redirects -> 1.15.4
CVE-2024-28849 | Medium | 6.5 | 2024-03-14 | - | follow-redirects: Proxy-Authorization header kept across hosts
  npm: follow-redirects -> 1.15.6
CVE-2023-45857 | Medium | 6.5 | 2023-11-08 | - | axios: XSRF-TOKEN revealed to third-party hosts
  npm: axios -> 1.6.0
CVE-2024-39338 | High | 7.5 | 2024-08-12 | - | axios: server-side request forgery via path-relative URLs
  npm: axios -> 1.7.4
CVE-2025-27152 | High | 7.7 | 2025-03-07 | - | axios: SSRF and credential leakage via absolute URLs
  npm: axios -> 1.8.2
CVE-2024-21538 | High | 7.5 | 2024-11-08 | - | cross-spawn: regular expression denial of service
  npm: cross-spawn -> 7.0.5
CVE-2023-42282 | Critical | 9.8 | 2024-02-08 | - | ip: isPublic() misidentifies some private IP addresses (SSRF)
  npm: ip -> 2.0.1
CVE-2024-29415 | High | 8.1 | 2024-05-27 | - | ip: isPublic() misidentifies some IP addresses (incomplete fix)
  npm: ip -> ! NoFixAvailable
CVE-2022-23540 | High | 7.6 | 2022-12-22 | - | jsonwebtoken: insecure default algorithm allows signature validation bypass
  npm: jsonwebtoken -> 9.0.0
CVE-2022-23541 | Medium | 6.3 | 2022-12-22 | - | jsonwebtoken: insecure key retrieval allows forgeable tokens
  npm: jsonwebtoken -> 9.0.0
CVE-2023-28155 | Medium | 6.1 | 2023-03-16 | - | request: SSRF via cross-protocol redirect (package deprecated)
  npm: request -> ! WontFix
CVE-2022-46175 | High | 8.8 | 2022-12-24 | - | JSON5: prototype pollution in the parse method
  npm: json5 -> 2.2.2
CVE-2023-26115 | Medium | 5.3 | 2023-06-22 | - | word-wrap: regular expression denial of service
  npm: word-wrap -> 1.2.4
CVE-2022-3517 | High | 7.5 | 2022-10-17 | - | minimatch: regular expression denial of service in braceExpand
  npm: minimatch -> 3.0.5
CVE-2021-23337 | High | 7.2 | 2021-02-15 | - | lodash: command injection via template
  npm: lodash -> 4.17.21
CVE-2020-28500 | Medium | 5.3 | 2021-02-15 | - | lodash: regular expression denial of service in toNumber, trim and trimEnd
  npm: lodash -> 4.17.21
CVE-2023-44270 | Medium | 5.3 | 2023-09-29 | - | PostCSS: line return parsing error allows comment injection
  npm: postcss -> 8.4.31
CVE-2024-55565 | Medium | 4.3 | 2024-12-09 | - | nanoid: infinite loop with non-integer size values
  npm: nanoid -> 3.3.8
CVE-2023-45133 | High | 8.8 | 2023-10-12 | - | Babel: arbitrary code execution when compiling specifically crafted code
  npm: @babel/traverse -> 7.23.2
CVE-2022-24434 | High | 7.5 | 2022-05-20 | - | dicer: crash via a malformed multipart form
  npm: dicer -> ! NoFixAvailable
CVE-2023-45143 | Low | 3.9 | 2023-10-12 | - | undici: Cookie header not cleared on cross-origin redirect
  npm: undici -> 5.26.2
CVE-2024-24758 | Low | 3.9 | 2024-02-16 | - | undici: Proxy-Authorization header not cleared on cross-origin redirect
  npm: undici -> 5.28.3
CVE-2024-30105 | High | 7.5 | 2024-07-09 | - | .NET: System.Text.Json denial of service deserializing JSON
  dotnet: System.Text.Json -> 8.0.4
CVE-2024-43485 | High | 7.5 | 2024-10-08 | - | .NET: System.Text.Json denial of service with JsonExtensionData
  dotnet: System.Text.Json -> 8.0.5
CVE-2024-21907 | High | 7.5 | 2024-01-03 | - | Newtonsoft.Json: stack overflow via deeply nested JSON
  dotnet: Newtonsoft.Json -> 13.0.1
CVE-2024-0056 | High | 8.7 | 2024-01-09 | - | Microsoft.Data.SqlClient: security feature bypass allowing TLS downgrade
  dotnet: Microsoft.Data.SqlClient -> 2.1.7
CVE-2024-38095 | High | 7.5 | 2024-07-09 | - | .NET: System.Formats.Asn1 denial of service
  dotnet: System.Formats.Asn1 -> 6.0.1
CVE-2023-36414 | High | 8.8 | 2023-10-10 | - | Azure Identity SDK: remote code execution
  dotnet: Azure.Identity -> 1.10.2
CVE-2024-35255 | Medium | 5.5 | 2024-06-11 | - | Azure Identity libraries: elevation of privilege
  dotnet: Azure.Identity -> 1.11.4
CVE-2024-21319 | Medium | 6.8 | 2024-01-09 | - | Microsoft Identity Model: JWT denial of service
  dotnet: Microsoft.IdentityModel.JsonWebTokens -> 6.34.0
"""


@dataclass(frozen=True)
class Cve:
    id: str
    severity: str
    cvss: float
    published: str       # YYYY-MM-DD
    exploitable: bool
    title: str


@dataclass(frozen=True)
class Variant:
    """One vulnerable package of a CVE on one platform (a finding row is cluster x image x variant)."""

    cve: int             # index into CVES
    platform: str
    package: str
    version: str         # installed version
    fixed: str           # "" when no fix
    fix_status: str      # FixAvailable | NoFixAvailable | WontFix
    component: int       # variants of one CVE on one platform share a component (chosen together)


def _parse() -> tuple[tuple[Cve, ...], tuple[Variant, ...]]:
    cves: list[Cve] = []
    variants: list[Variant] = []
    components: dict[tuple[int, str], int] = {}
    for raw in _CVES.strip("\n").splitlines():
        if not raw.strip():
            continue
        if not raw.startswith(" "):
            cid, sev, score, published, exploit, title = (p.strip() for p in raw.split("|", 5))
            cves.append(Cve(cid, sev, float(score), published, exploit == "x", title))
            continue
        platform, rest = raw.strip().split(":", 1)
        packages, fixed = rest.split("->")
        fixed = fixed.strip()
        status = "FixAvailable"
        if fixed.startswith("!"):
            status, fixed = fixed[1:].strip(), ""
        comp = components.setdefault((len(cves) - 1, platform), len(components))
        for pkg in (p.strip() for p in packages.split(",")):
            try:
                version = PACKAGE_VERSIONS[platform][pkg]
            except KeyError:
                raise ValueError(f"sample catalogue: no installed version for {platform} {pkg}") from None
            variants.append(Variant(len(cves) - 1, platform, pkg, version, fixed, status, comp))
    return tuple(cves), tuple(variants)


CVES, VARIANTS = _parse()

# --------------------------------------------------------------------------------------------
# Images. Profiles say which platforms an image is built from.
# --------------------------------------------------------------------------------------------

# profile -> ((os, weight), ...), languages, share of OS CVEs kept (distroless images carry few)
PROFILES: dict[str, tuple[tuple[tuple[str, float], ...], tuple[str, ...]]] = {
    "java": ((("ubuntu-22.04", 0.5), ("debian-12", 0.3), ("mariner-2.0", 0.2)), ("java",)),
    "java-legacy": ((("debian-11", 0.65), ("debian-10", 0.35)), ("java-legacy",)),
    "go": ((("alpine-3.18", 0.5), ("debian-12", 0.35), ("alpine-3.16", 0.15)), ("go",)),
    "python": ((("debian-12", 0.6), ("debian-11", 0.4)), ("python",)),
    "python-ml": ((("ubuntu-22.04", 1.0),), ("python", "python-ml")),
    "node": ((("alpine-3.18", 0.5), ("debian-12", 0.3), ("alpine-3.16", 0.2)), ("npm",)),
    "dotnet": ((("debian-12", 0.5), ("mariner-2.0", 0.3), ("ubuntu-22.04", 0.2)), ("dotnet",)),
    "nginx": ((("debian-12", 0.7), ("alpine-3.18", 0.3)), ()),
    "toolbox": ((("debian-13", 1.0),), ()),
}


@dataclass(frozen=True)
class ThirdPartyImage:
    registry: str
    repository: str
    os: str
    languages: tuple[str, ...]
    version: str          # first version in the window; later ones bump it
    os_share: float       # 1.0 full OS, lower for distroless / minimal images
    namespace: str
    kind: str
    workload: str
    container: str
    share: float          # share of clusters that run it
    units: tuple[str, ...] = ()   # only clusters of these units (empty = any)


THIRD_PARTY: tuple[ThirdPartyImage, ...] = (
    ThirdPartyImage("mcr.microsoft.com", "oss/kubernetes/ingress-nginx/controller", "alpine-3.18", ("go",), "v1.8.1",
                    1.0, "ingress-nginx", "Deployment", "ingress-nginx-controller", "controller", 0.85),
    ThirdPartyImage("mcr.microsoft.com", "oss/jetstack/cert-manager-controller", "debian-12", ("go",), "v1.12.3",
                    0.15, "cert-manager", "Deployment", "cert-manager", "cert-manager-controller", 0.7),
    ThirdPartyImage("mcr.microsoft.com", "azuremonitor/containerinsights/ciprod", "mariner-2.0", ("go",), "3.1.10",
                    1.0, "kube-system", "DaemonSet", "ama-logs", "ama-logs", 0.8),
    ThirdPartyImage("registry.k8s.io", "external-dns/external-dns", "debian-12", ("go",), "v0.13.5", 0.15,
                    "external-dns", "Deployment", "external-dns", "external-dns", 0.4),
    ThirdPartyImage("quay.io", "prometheus/node-exporter", "debian-12", ("go",), "v1.6.1", 0.1, "monitoring",
                    "DaemonSet", "prometheus-node-exporter", "node-exporter", 0.45),
    ThirdPartyImage("quay.io", "prometheus/prometheus", "debian-12", ("go",), "v2.47.0", 0.1, "monitoring",
                    "StatefulSet", "prometheus-server", "prometheus", 0.3),
    ThirdPartyImage("registry.k8s.io", "kube-state-metrics/kube-state-metrics", "debian-12", ("go",), "v2.10.0",
                    0.15, "monitoring", "Deployment", "kube-state-metrics", "kube-state-metrics", 0.4),
    ThirdPartyImage("ghcr.io", "fluxcd/source-controller", "alpine-3.18", ("go",), "v1.1.2", 1.0, "flux-system",
                    "Deployment", "source-controller", "manager", 0.35),
    ThirdPartyImage("ghcr.io", "fluxcd/kustomize-controller", "alpine-3.18", ("go",), "v1.1.1", 1.0, "flux-system",
                    "Deployment", "kustomize-controller", "manager", 0.35),
    ThirdPartyImage("docker.io", "grafana/grafana", "alpine-3.18", ("go", "npm"), "10.1.5", 1.0, "monitoring",
                    "Deployment", "grafana", "grafana", 0.15),
    ThirdPartyImage("docker.io", "bitnami/redis", "debian-11", (), "7.0.12-debian-11-r34", 1.0, "redis",
                    "StatefulSet", "redis-master", "redis", 0.35),
    ThirdPartyImage("docker.io", "bitnami/postgresql", "debian-11", (), "15.4.0-debian-11-r10", 1.0, "postgresql",
                    "StatefulSet", "postgresql", "postgresql", 0.15),
    ThirdPartyImage("docker.io", "library/rabbitmq", "ubuntu-22.04", (), "3.12.4-management", 1.0, "rabbitmq",
                    "StatefulSet", "rabbitmq-server", "rabbitmq", 0.12),
    ThirdPartyImage("docker.io", "bitnami/kafka", "debian-11", ("java",), "3.5.1-debian-11-r25", 1.0, "kafka",
                    "StatefulSet", "kafka-controller", "kafka", 0.1, ("data", "iot", "analytics", "inventory")),
    ThirdPartyImage("docker.io", "library/nginx", "debian-12", (), "1.25.2", 1.0, "web", "Deployment",
                    "nginx-static", "nginx", 0.25),
    ThirdPartyImage("docker.io", "library/mongo", "ubuntu-22.04", ("go",), "6.0.10", 1.0, "mongodb", "StatefulSet",
                    "mongodb", "mongod", 0.08),
    ThirdPartyImage("ghcr.io", "actions/actions-runner", "ubuntu-22.04", ("dotnet", "go-runc"), "2.309.0", 1.0,
                    "arc-runners", "StatefulSet", "arc-runner-set", "runner", 0.6, ("platform",)),
)

# --------------------------------------------------------------------------------------------
# Business units: apps, services (name:profile), owners, registries.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    name: str
    apps: tuple[str, ...]
    services: tuple[tuple[str, str], ...]
    owner: str            # canonical owner tag value (before the mess of real tagging)
    champion: str         # person used for Defender governance assignments
    costcenter: str
    registry: str


def _unit(name: str, apps: str, services: str, owner: str, champion: str, cc: str,
          registry: str = "contosoacr.azurecr.io") -> Unit:
    svc = tuple(tuple(s.split(":")) for s in services.split())
    return Unit(name, tuple(apps.split()), svc, owner, champion, cc, registry)  # type: ignore[arg-type]


UNITS: dict[str, Unit] = {u.name: u for u in (
    _unit("payments", "payments ledger fraud",
          "payments-api:java ledger-service:java fraud-scoring:python settlement-batch:java-legacy "
          "card-tokenizer:go notifications:node reconciliation:python payouts-api:java",
          "payments-team@contoso.com", "anna.kowalski@contoso.com", "CC-4100", "crpaymentsprod.azurecr.io"),
    _unit("platform", "platform core",
          "api-gateway:go config-service:java feature-flags:go webhook-relay:node debug-toolbox:toolbox "
          "status-page:nginx artifact-proxy:go",
          "Platform Engineering", "lars.nielsen@contoso.com", "CC-1000"),
    _unit("identity", "identity iam",
          "token-service:dotnet user-profile:go consent-api:java scim-sync:python mfa-gateway:go",
          "iam-engineering@contoso.com", "rahul.mehta@contoso.com", "CC-1200"),
    _unit("data", "data lakehouse streaming",
          "etl-runner:python ingestion-api:go airflow-worker:python dbt-runner:python kafka-connect:java-legacy "
          "schema-registry:java quality-checks:python",
          "data-platform@contoso.com", "chen.wei@contoso.com", "CC-3300", "contosodata.azurecr.io"),
    _unit("checkout", "checkout cart",
          "storefront-checkout:node cart-api:java pricing-engine:go promotions:python order-api:dotnet tax-service:java",
          "checkout-squad", "maria.garcia@contoso.com", "CC-4200"),
    _unit("web", "web storefront",
          "storefront:node cms:node search-ui:node image-cdn:nginx sitemap-generator:python",
          "web-team@contoso.com", "sofia.rossi@contoso.com", "CC-4300"),
    _unit("ml", "ml recs",
          "model-server:python-ml feature-store:python training-job:python-ml embeddings-api:python-ml recs-api:go",
          "ml-platform@contoso.com", "david.levi@contoso.com", "CC-3400", "contosoml.azurecr.io"),
    _unit("analytics", "analytics bi",
          "reporting-api:java dashboards:node report-engine:java-legacy export-worker:python",
          "analytics-engineering@contoso.com", "emma.johansson@contoso.com", "CC-3500"),
    _unit("logistics", "logistics shipping",
          "shipment-tracker:java route-optimizer:python warehouse-api:dotnet carrier-adapter:java-legacy "
          "label-printer:node",
          "logistics-it@contoso.com", "kwame.mensah@contoso.com", "CC-5100"),
    _unit("crm", "crm",
          "crm-sync:java customer-api:dotnet case-portal:node survey-service:python",
          "crm-apps@contoso.com", "tom.oconnor@contoso.com", "CC-5200"),
    _unit("search", "search",
          "indexer:java query-api:go synonyms-admin:node",
          "search-relevance@contoso.com", "fatima.alsayed@contoso.com", "CC-4400"),
    _unit("iot", "iot telemetry",
          "telemetry-ingest:go device-registry:dotnet firmware-updates:go alerting:python",
          "iot-platform@contoso.com", "j.smith@contoso.com", "CC-5300"),
    _unit("billing", "billing invoicing",
          "invoice-service:java billing-api:java dunning-worker:python pdf-renderer:node",
          "billing-team@contoso.com", "anna.kowalski@contoso.com", "CC-4110"),
    _unit("catalog", "catalog",
          "catalog-api:java image-resizer:go pim-sync:python",
          "catalog-team@contoso.com", "sofia.rossi@contoso.com", "CC-4310"),
    _unit("messaging", "messaging",
          "email-sender:node sms-gateway:go template-service:java",
          "comms-engineering@contoso.com", "lars.nielsen@contoso.com", "CC-1300"),
    _unit("security", "secops",
          "scanner-proxy:go secrets-sync:go siem-forwarder:java",
          "secops@contoso.com", "rahul.mehta@contoso.com", "CC-1100"),
    _unit("finance", "finance erp",
          "gl-export:java-legacy fx-rates:python expense-api:dotnet",
          "finance-systems@contoso.com", "emma.johansson@contoso.com", "CC-2100"),
    _unit("marketing", "marketing",
          "campaign-api:node segment-builder:python email-preferences:node",
          "martech@contoso.com", "maria.garcia@contoso.com", "CC-2200"),
    _unit("loyalty", "loyalty",
          "points-api:java rewards-web:node",
          "loyalty-team@contoso.com", "tom.oconnor@contoso.com", "CC-4500"),
    _unit("inventory", "inventory stock",
          "stock-api:go replenishment:python stock-events:java",
          "inventory-systems@contoso.com", "kwame.mensah@contoso.com", "CC-5400"),
    _unit("supplychain", "supplychain procurement",
          "supplier-portal:dotnet edi-gateway:java-legacy",
          "scm-it@contoso.com", "chen.wei@contoso.com", "CC-5500"),
    _unit("hr", "hr",
          "hr-portal:node payroll-export:java-legacy",
          "hr-systems@contoso.com", "j.smith@contoso.com", "CC-2300"),
    _unit("mobile", "mobile bff",
          "mobile-bff:node push-service:go app-config:go",
          "mobile-platform@contoso.com", "fatima.alsayed@contoso.com", "CC-4600"),
)}

# Extra service names when a unit needs more images than its base list.
SERVICE_SUFFIXES = ("worker", "scheduler", "sync", "exporter", "admin", "events", "reconciler", "adapter",
                    "consumer", "gateway", "cache-warmer", "migrator", "notifier", "auditor")

# Subscriptions in the order they are used (unit, environment); small takes the first 3.
SUBSCRIPTIONS: tuple[tuple[str, str], ...] = (
    ("payments", "prod"), ("platform", "shared"), ("payments", "nonprod"), ("identity", "prod"), ("data", "prod"),
    ("checkout", "prod"), ("web", "prod"), ("data", "nonprod"), ("identity", "nonprod"), ("ml", "prod"),
    ("checkout", "nonprod"), ("logistics", "prod"), ("analytics", "prod"), ("crm", "prod"), ("web", "nonprod"),
    ("search", "prod"), ("iot", "prod"), ("billing", "prod"), ("ml", "nonprod"), ("catalog", "prod"),
    ("messaging", "prod"), ("logistics", "nonprod"), ("platform", "sandbox"), ("security", "prod"),
    ("finance", "prod"), ("marketing", "prod"), ("loyalty", "prod"), ("inventory", "prod"),
    ("supplychain", "prod"), ("hr", "prod"), ("analytics", "nonprod"), ("billing", "nonprod"),
    ("iot", "nonprod"), ("crm", "nonprod"), ("mobile", "prod"), ("mobile", "nonprod"), ("search", "nonprod"),
    ("catalog", "nonprod"), ("finance", "nonprod"), ("data", "sandbox"),
)

ENVIRONMENTS = {  # subscription environment -> cluster environments and weights
    "prod": (("prod", 1.0),),
    "nonprod": (("dev", 0.4), ("test", 0.25), ("stg", 0.25), ("uat", 0.1)),
    "shared": (("shared", 0.5), ("ops", 0.3), ("ci", 0.2)),
    "sandbox": (("sbx", 1.0),),
}
SUBSCRIPTION_WEIGHT = {"prod": 1.4, "nonprod": 1.0, "shared": 0.8, "sandbox": 0.4}

REGIONS: tuple[tuple[str, str, float], ...] = (  # name, short code, weight as a primary region
    ("westeurope", "weu", 0.30), ("northeurope", "neu", 0.14), ("eastus2", "eus2", 0.14), ("uksouth", "uks", 0.10),
    ("eastus", "eus", 0.07), ("westus3", "wus3", 0.05), ("germanywestcentral", "gwc", 0.05),
    ("swedencentral", "sdc", 0.04), ("centralus", "cus", 0.03), ("francecentral", "frc", 0.03),
    ("southeastasia", "sea", 0.03), ("australiaeast", "aue", 0.02),
)
PAIRED_REGION = {
    "westeurope": "northeurope", "northeurope": "westeurope", "eastus2": "centralus", "centralus": "eastus2",
    "uksouth": "westeurope", "eastus": "westus3", "westus3": "eastus", "germanywestcentral": "westeurope",
    "swedencentral": "northeurope", "francecentral": "westeurope", "southeastasia": "australiaeast",
    "australiaeast": "southeastasia",
}

EXEMPT_REASONS = (
    ("Mitigated", "Isolated batch cluster: compensating controls",
     "Cluster has no ingress and no outbound internet; images are rebuilt weekly from patched bases. "
     "Approved by the CISO office, ticket SEC-2291."),
)
