"""The TLS 1.2 cipher suites the spec names and those Mozilla's "intermediate" guideline allows: one
list for the policy pack (`policies.floors`) and for `chefchatz tls-check` (`ops.tls.check`).

Data only, no imports: the pack and the TLS check each load it without the other's dependencies.
"""

# The spec's "SSL Configuration" block, verbatim.
SPEC_PREFERRED_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
)

# Mozilla Server Side TLS guideline 5.7, "intermediate" configuration, TLS 1.2 suites (OpenSSL names),
# all forward secret (ECDHE/DHE) and AEAD (GCM/ChaCha20-Poly1305):
# https://ssl-config.mozilla.org/guidelines/5.7.json -> configurations.intermediate.ciphers.openssl.
# sslyze 6 ships the same file as sslyze/mozilla_tls_profile/5.7.json; its TLS 1.3 suites
# (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256) are every suite TLS 1.3
# defines for general use, which is why TLS 1.3 suites are not checked one by one.
MOZILLA_INTERMEDIATE_TLS12_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
)
