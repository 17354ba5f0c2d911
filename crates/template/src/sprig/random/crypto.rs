//! Sprig's key, certificate and password functions (`crypto.go` of Masterminds/sprig v3):
//! `genPrivateKey`, `genCA`, `genCAWithKey`, `genSelfSignedCert`, `genSelfSignedCertWithKey`,
//! `genSignedCert`, `genSignedCertWithKey`, `buildCustomCert`, `derivePassword`, `bcrypt`,
//! `htpasswd`, `encryptAES`, `decryptAES` and `randBytes`, with Sprig's arguments, results and
//! error texts.
//!
//! Every random input (keys, serial numbers, salts, IVs) is drawn from the render's seeded
//! [`Stream`], never from the OS, so the same seed gives byte-identical keys and certificates;
//! certificates start at the caller's `now`. Certificates are made as Go's
//! `x509.CreateCertificate` makes them from Sprig's template: version 3, a 128-bit serial, the
//! common name as the only subject attribute, key usage, extended key usage (server and client
//! auth), basic constraints, a subject key id on CAs, the CA's key id on the certificates it
//! signs, and the DNS names and IPs as subject alternative names.
//!
//! Not supported: DSA keys (`genPrivateKey "dsa"` answers with Sprig's failure text, a DSA key
//! given to a `…WithKey` function is refused), elliptic curves other than P-256 in keys given.
//! The signatures are deterministic (RSA PKCS#1 v1.5, ECDSA per RFC 6979, Ed25519) where Go's
//! ECDSA ones draw randomness: a valid signature either way.

use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use der::asn1::{Any, BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Decode as _, Encode as _, Tag};
use sha2::Digest as _;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};

use super::Stream;
use crate::funcs::Funcs;
use crate::sprig::{int_arg, str_arg, wrong_type};
use crate::value::{Arity, Struct, Value};

/// The type name Go gives Sprig's certificate struct (in messages about wrong arguments).
const CERTIFICATE: &str = "sprig.certificate";

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const OID_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// The seeded stream as the RNG the key crates take.
struct Rng<'a>(&'a mut Stream);

impl rand_core::RngCore for Rng<'_> {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest.iter_mut() {
            *b = self.0.byte();
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Unpredictable to whoever does not know the seed: the seed is the render's secret.
impl rand_core::CryptoRng for Rng<'_> {}

/// A private key of one of the kinds Sprig makes.
#[derive(Clone)]
enum Key {
    Rsa(Box<rsa::RsaPrivateKey>),
    Ec(p256::SecretKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl Key {
    fn rsa(stream: &mut Stream, bits: usize) -> Result<Key, String> {
        rsa::RsaPrivateKey::new(&mut Rng(stream), bits).map(|k| Key::Rsa(Box::new(k))).map_err(|e| e.to_string())
    }

    fn ec(stream: &mut Stream) -> Key {
        Key::Ec(p256::SecretKey::random(&mut Rng(stream)))
    }

    fn ed25519(stream: &mut Stream) -> Key {
        // Go's ed25519.GenerateKey reads the 32 bytes of the seed.
        let mut seed = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut Rng(stream), &mut seed);
        Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The key as Sprig's `pemBlockForKey` writes it: PKCS#1 for RSA, SEC 1 for EC, PKCS#8
    /// (without the public key, as Go writes it) for Ed25519.
    fn to_pem(&self) -> Result<String, String> {
        Ok(match self {
            Key::Rsa(k) => {
                let der = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(k.as_ref()).map_err(|e| e.to_string())?;
                pem("RSA PRIVATE KEY", der.as_bytes())
            }
            Key::Ec(k) => pem("EC PRIVATE KEY", &k.to_sec1_der().map_err(|e| e.to_string())?),
            Key::Ed25519(k) => {
                let mut der = vec![
                    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
                ];
                der.extend_from_slice(k.as_bytes());
                pem("PRIVATE KEY", &der)
            }
        })
    }

    /// The public key as a certificate holds it.
    fn public_key_info(&self) -> Result<SubjectPublicKeyInfoOwned, String> {
        let der = match self {
            Key::Rsa(k) => {
                spki::EncodePublicKey::to_public_key_der(&k.to_public_key()).map_err(|e| e.to_string())?.into_vec()
            }
            Key::Ec(k) => {
                p256::pkcs8::EncodePublicKey::to_public_key_der(&k.public_key()).map_err(|e| e.to_string())?.into_vec()
            }
            Key::Ed25519(k) => {
                return Ok(SubjectPublicKeyInfoOwned {
                    algorithm: AlgorithmIdentifierOwned { oid: OID_ED25519, parameters: None },
                    subject_public_key: BitString::from_bytes(k.verifying_key().as_bytes())
                        .map_err(|e| e.to_string())?,
                });
            }
        };
        SubjectPublicKeyInfoOwned::from_der(&der).map_err(|e| e.to_string())
    }

    /// The algorithm of the signatures this key makes, as Go chooses it (SHA-256 throughout).
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self {
            Key::Rsa(_) => AlgorithmIdentifierOwned { oid: OID_SHA256_WITH_RSA, parameters: Some(Any::null()) },
            Key::Ec(_) => AlgorithmIdentifierOwned { oid: OID_ECDSA_SHA256, parameters: None },
            Key::Ed25519(_) => AlgorithmIdentifierOwned { oid: OID_ED25519, parameters: None },
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        match self {
            Key::Rsa(k) => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(k.as_ref().clone()).sign(message).to_vec(),
            Key::Ec(k) => {
                let signature: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(k).sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Key::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }
}

/// Sprig's `parsePrivateKeyPEM`, with its messages.
fn parse_key(text: &str) -> Result<Key, String> {
    let (kind, der) = pem_decode(text).ok_or("no PEM data in input")?;
    if kind == "PRIVATE KEY" {
        return parse_pkcs8(&der).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
    }
    let Some(algorithm) = kind.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {kind}"));
    };
    match algorithm {
        "RSA" => rsa::pkcs1::DecodeRsaPrivateKey::from_pkcs1_der(&der)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| format!("parsing RSA private key from PEM: {e}")),
        "EC" => p256::SecretKey::from_sec1_der(&der)
            .map(Key::Ec)
            .map_err(|e| format!("parsing EC private key from PEM: {e}")),
        "DSA" => Err("parsing DSA private key from PEM: DSA keys are not supported".to_string()),
        _ => Err(format!("invalid private key type {kind}")),
    }
}

fn parse_pkcs8(der: &[u8]) -> Result<Key, String> {
    let info = pkcs8::PrivateKeyInfo::try_from(der).map_err(|e| e.to_string())?;
    match info.algorithm.oid {
        OID_RSA => rsa::pkcs1::DecodeRsaPrivateKey::from_pkcs1_der(info.private_key)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| e.to_string()),
        OID_EC_PUBLIC_KEY => match info.algorithm.parameters_oid() {
            Ok(OID_P256) => p256::SecretKey::from_sec1_der(info.private_key).map(Key::Ec).map_err(|e| e.to_string()),
            _ => Err("x509: unsupported elliptic curve".to_string()),
        },
        OID_ED25519 => {
            let seed = OctetString::from_der(info.private_key).map_err(|e| e.to_string())?;
            let seed: [u8; 32] =
                seed.as_bytes().try_into().map_err(|_| "x509: invalid Ed25519 private key length".to_string())?;
            Ok(Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)))
        }
        other => Err(format!("x509: PKCS#8 wrapping contained private key with unknown algorithm: {other}")),
    }
}

/// A PEM block as Go's `pem.Encode` writes it: base64 in lines of 64 characters.
fn pem(kind: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {kind}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(kind);
    out.push_str("-----\n");
    out
}

/// The first PEM block of `text` (its type and bytes), as Go's `pem.Decode` finds it.
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let mut rest = text;
    loop {
        let start = rest.find("-----BEGIN ")?;
        rest = &rest[start + "-----BEGIN ".len()..];
        let end = rest.find("-----")?;
        let kind = &rest[..end];
        let after = &rest[end + 5..];
        let footer = format!("-----END {kind}-----");
        if kind.contains('\n') || !after.starts_with(['\n', '\r']) {
            continue;
        }
        let Some(stop) = after.find(&footer) else { continue };
        // Headers ("Proc-Type: …") end at an empty line; there are none in the keys Sprig reads.
        let body: String = after[..stop].lines().filter(|l| !l.contains(':')).collect::<String>();
        let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        match base64::engine::general_purpose::STANDARD.decode(body) {
            Ok(der) => return Some((kind.to_string(), der)),
            Err(_) => rest = &after[stop..],
        }
    }
}

/// What a certificate says about its subject, as Sprig's `getBaseCertTemplate` takes it.
struct Subject {
    common_name: String,
    ips: Vec<core::net::IpAddr>,
    dns_names: Vec<String>,
    days_valid: i64,
    is_ca: bool,
}

impl Subject {
    /// Reads the arguments `cn ips alternateDNS daysValid` with Sprig's checks.
    fn from_args(cn: &Value, ips: &Value, dns: &Value, days: &Value) -> Result<Subject, String> {
        let ips = list_arg(ips)?
            .iter()
            .map(|ip| match ip {
                Value::String(s) => parse_ip(s).ok_or_else(|| format!("error parsing ip: {s}")),
                other => Err(format!("error parsing ip: {} is not a string", crate::print::format_value(other))),
            })
            .collect::<Result<_, _>>()?;
        let dns_names = list_arg(dns)?
            .iter()
            .map(|name| match name {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "error processing alternate dns name: {} is not a string",
                    crate::print::format_value(other)
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Subject { common_name: str_arg(cn)?.to_string(), ips, dns_names, days_valid: int_arg(days)?, is_ca: false })
    }
}

/// Go's `net.ParseIP`: dotted IPv4 or IPv6.
fn parse_ip(s: &str) -> Option<core::net::IpAddr> {
    s.parse().ok()
}

/// A `[]interface{}` argument: a list, or nil for none.
fn list_arg(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::List(items) => Ok(items.iter().cloned().collect()),
        other => Err(wrong_type("[]interface {}", other)),
    }
}

/// The certificate `(Cert, Key)` of a [`Value`] that Sprig made.
fn certificate_arg(v: &Value) -> Result<(String, String), String> {
    match v {
        Value::Object(o) if o.type_name() == CERTIFICATE => {
            let field = |name| match o.field(name) {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            Ok((field("Cert"), field("Key")))
        }
        other => Err(wrong_type(CERTIFICATE, other)),
    }
}

fn certificate(cert: String, key: String) -> Value {
    Struct::new(CERTIFICATE).field("Cert", cert).field("Key", key).into_value()
}

/// The issuer of a certificate to be signed: its name, key id and key.
struct Issuer<'a> {
    name: Name,
    key_id: Option<Vec<u8>>,
    key: &'a Key,
}

/// Go's `x509.CreateCertificate` for Sprig's template: the certificate and the subject's key,
/// both PEM.
fn make_certificate(
    stream: &mut Stream,
    now_unix: i64,
    subject: &Subject,
    key: &Key,
    issuer: Option<Issuer<'_>>,
) -> Result<Value, String> {
    let mut serial = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut Rng(stream), &mut serial);
    let serial_number = SerialNumber::new(&serial).map_err(|e| e.to_string())?;
    let name = common_name(&subject.common_name)?;
    let public_key = key.public_key_info()?;
    let self_signed = issuer.is_none();
    let (issuer_name, issuer_key_id, signer) = match issuer {
        Some(Issuer { name, key_id, key }) => (name, key_id, key),
        None => (name.clone(), None, key),
    };
    let not_before = time(now_unix)?;
    let not_after = time(now_unix.saturating_add(subject.days_valid.saturating_mul(86_400)))?;

    let mut extensions = Vec::new();
    // KeyUsage: digitalSignature | keyEncipherment, and keyCertSign on a CA (Go's bit order).
    let usage: &[u8] = if subject.is_ca { &[0x03, 0x02, 0x02, 0xa4] } else { &[0x03, 0x02, 0x05, 0xa0] };
    extensions.push(extension(OID_KEY_USAGE, true, usage.to_vec()));
    let ext_usage = ExtendedKeyUsage(vec![OID_SERVER_AUTH, OID_CLIENT_AUTH]);
    extensions.push(extension(OID_EXT_KEY_USAGE, false, ext_usage.to_der().map_err(|e| e.to_string())?));
    let constraints = BasicConstraints { ca: subject.is_ca, path_len_constraint: None };
    extensions.push(extension(OID_BASIC_CONSTRAINTS, true, constraints.to_der().map_err(|e| e.to_string())?));
    if subject.is_ca {
        // Go (since 1.25) fills a CA's missing subject key id with the first 160 bits of the
        // SHA-256 of its public key (RFC 7093, method 1).
        let id = key_id(&public_key);
        extensions.push(extension(OID_SUBJECT_KEY_ID, false, octets(&id)?));
    }
    // Go names the issuer's key when the issuer is another certificate with a key id.
    if let Some(id) = issuer_key_id.filter(|_| !self_signed && issuer_name != name) {
        // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
        let mut value = vec![0x80, u8::try_from(id.len()).map_err(|e| e.to_string())?];
        value.extend_from_slice(&id);
        extensions.push(extension(OID_AUTHORITY_KEY_ID, false, sequence(&value)?));
    }
    if !subject.dns_names.is_empty() || !subject.ips.is_empty() {
        let mut names = Vec::new();
        for dns in &subject.dns_names {
            let ia5 = Ia5String::new(dns).map_err(|_| format!("x509: {dns:?} cannot be encoded as an IA5String"))?;
            names.push(GeneralName::DnsName(ia5));
        }
        for ip in &subject.ips {
            let bytes = match ip {
                core::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                core::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => v4.octets().to_vec(),
                    None => v6.octets().to_vec(),
                },
            };
            names.push(GeneralName::IpAddress(OctetString::new(bytes).map_err(|e| e.to_string())?));
        }
        // Go marks the names critical when the subject is empty (RFC 5280, 4.2.1.6).
        let critical = name.0.is_empty();
        extensions.push(extension(
            OID_SUBJECT_ALT_NAME,
            critical,
            SubjectAltName(names).to_der().map_err(|e| e.to_string())?,
        ));
    }

    let tbs = TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number,
        signature: signer.signature_algorithm(),
        issuer: issuer_name,
        validity: Validity { not_before, not_after },
        subject: name,
        subject_public_key_info: public_key,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(|e| format!("error creating certificate: {e}"))?;
    let signature = signer.sign(&tbs_der);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: signer.signature_algorithm(),
        signature: BitString::from_bytes(&signature).map_err(|e| e.to_string())?,
    };
    let der = cert.to_der().map_err(|e| format!("error creating certificate: {e}"))?;
    Ok(certificate(pem("CERTIFICATE", &der), key.to_pem()?))
}

fn extension(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
    Extension { extn_id: oid, critical, extn_value: OctetString::new(value).expect("an extension is far below 4 GiB") }
}

fn octets(bytes: &[u8]) -> Result<Vec<u8>, String> {
    OctetString::new(bytes).and_then(|o| o.to_der()).map_err(|e| e.to_string())
}

fn sequence(content: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = vec![0x30];
    let len = u8::try_from(content.len()).map_err(|e| e.to_string())?;
    if len >= 0x80 {
        out.push(0x81);
    }
    out.push(len);
    out.extend_from_slice(content);
    Ok(out)
}

/// A key id: the first 20 bytes of the SHA-256 of the public key's bits.
fn key_id(public_key: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    sha2::Sha256::digest(public_key.subject_public_key.raw_bytes())[..20].to_vec()
}

/// Go's `pkix.Name{CommonName: cn}`: one attribute, a PrintableString where the text allows,
/// UTF8String otherwise; none for an empty name.
fn common_name(cn: &str) -> Result<Name, String> {
    if cn.is_empty() {
        return Ok(RdnSequence(Vec::new()));
    }
    let printable = cn.bytes().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?*".contains(&b));
    let tag = if printable { Tag::PrintableString } else { Tag::Utf8String };
    let value = Any::new(tag, cn.as_bytes()).map_err(|e| e.to_string())?;
    let attribute = AttributeTypeAndValue { oid: OID_COMMON_NAME, value };
    let set = SetOfVec::try_from(vec![attribute]).map_err(|e| e.to_string())?;
    Ok(RdnSequence(vec![RelativeDistinguishedName(set)]))
}

/// Go's encoding of a certificate time: UTCTime before 2050, GeneralizedTime from then.
fn time(unix: i64) -> Result<Time, String> {
    let seconds =
        u64::try_from(unix).map_err(|_| format!("a certificate time before 1970 ({unix}) is not supported"))?;
    let duration = core::time::Duration::from_secs(seconds);
    let datetime = der::DateTime::from_unix_duration(duration).map_err(|e| format!("certificate time: {e}"))?;
    if datetime.year() < 2050 {
        UtcTime::from_date_time(datetime).map(Time::UtcTime).map_err(|e| e.to_string())
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(datetime)))
    }
}

/// The issuer that the certificate `ca` (PEM certificate and key) makes, Sprig's messages.
fn parse_issuer(cert: &str, key: &str) -> Result<(Name, Option<Vec<u8>>, Key), String> {
    let (_, der) = pem_decode(cert).ok_or("unable to decode certificate")?;
    let parsed =
        Certificate::from_der(&der).map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let key = parse_key(key).map_err(|e| format!("error parsing private key: {e}"))?;
    let key_id = parsed
        .tbs_certificate
        .get::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, id)| id.0.as_bytes().to_vec());
    Ok((parsed.tbs_certificate.subject, key_id, key))
}

/// Sprig's `derivePassword` (Master Password's algorithm): a string, or Sprig's failure text.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    use hmac::Mac as _;
    const SEED: &[u8] = b"com.lyndir.masterpassword";
    let templates: &[&str] = match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return format!("cannot find password template {kind}"),
    };
    let length = |s: &str| u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes();
    let mut salt = SEED.to_vec();
    salt.extend_from_slice(&length(user));
    salt.extend_from_slice(user.as_bytes());
    let mut key = [0u8; 64];
    let params = scrypt::Params::new(15, 8, 2, 64).expect("Sprig's scrypt parameters are valid");
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut message = SEED.to_vec();
    message.extend_from_slice(&length(site));
    message.extend_from_slice(site.as_bytes());
    message.extend_from_slice(&counter.to_be_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(&message);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()];
    template
        .bytes()
        .enumerate()
        .map(|(i, class)| {
            let chars: &[u8] = match class {
                b'V' => b"AEIOU",
                b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
                b'v' => b"aeiou",
                b'c' => b"bcdfghjklmnpqrstvwxyz",
                b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
                b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
                b'n' => b"0123456789",
                b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
                _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
            };
            char::from(chars[usize::from(seed[i + 1]) % chars.len()])
        })
        .collect()
}

/// Go's `bcrypt.GenerateFromPassword` at the default cost (10), version `2a`, the salt from
/// the stream; Sprig's failure text for a password longer than 72 bytes.
fn bcrypt(stream: &mut Stream, password: &str) -> String {
    if password.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes".to_string();
    }
    let mut salt = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut Rng(stream), &mut salt);
    bcrypt_with(password, 10, salt)
}

/// bcrypt (`$2a$`) of `password` (at most 72 bytes) at `cost` with `salt`.
fn bcrypt_with(password: &str, cost: u32, salt: [u8; 16]) -> String {
    let mut key = password.as_bytes().to_vec();
    key.push(0);
    let mut state = blowfish::Blowfish::bc_init_state();
    state.salted_expand_key(&salt, &key);
    for _ in 0..1u32 << cost {
        state.bc_expand_key(&key);
        state.bc_expand_key(&salt);
    }
    // "OrpheanBeholderScryDoubt", encrypted 64 times.
    let mut text = [0x4f72_7068, 0x6561_6e42, 0x6568_6f6c, 0x6465_7253, 0x6372_7944, 0x6f75_6274];
    for pair in text.chunks_mut(2) {
        for _ in 0..64 {
            let [l, r] = state.bc_encrypt([pair[0], pair[1]]);
            pair[0] = l;
            pair[1] = r;
        }
    }
    let bytes: Vec<u8> = text.iter().flat_map(|w| w.to_be_bytes()).collect();
    let engine =
        base64::engine::GeneralPurpose::new(&base64::alphabet::BCRYPT, base64::engine::general_purpose::NO_PAD);
    format!("$2a${cost:02}${}{}", engine.encode(salt), engine.encode(&bytes[..23]))
}

/// Sprig's AES key: the password's bytes, cut or padded with zeros to 32.
fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    key
}

fn encrypt_aes(stream: &mut Stream, password: &str, plaintext: &str) -> String {
    use cbc::cipher::{BlockEncryptMut as _, KeyIvInit as _};
    if plaintext.is_empty() {
        return String::new();
    }
    let mut iv = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut Rng(stream), &mut iv);
    let encryptor = cbc::Encryptor::<aes::Aes256>::new(&aes_key(password).into(), &iv.into());
    let mut out = iv.to_vec();
    out.extend(encryptor.encrypt_padded_vec_mut::<cbc::cipher::block_padding::Pkcs7>(plaintext.as_bytes()));
    base64::engine::general_purpose::STANDARD.encode(out)
}

fn decrypt_aes(password: &str, crypt64: &str) -> Result<String, String> {
    use cbc::cipher::{BlockDecryptMut as _, KeyIvInit as _};
    if crypt64.is_empty() {
        return Ok(String::new());
    }
    let crypt = base64::engine::general_purpose::STANDARD.decode(crypt64).map_err(|e| go_base64_error(&e))?;
    if crypt.len() < 16 {
        return Err(format!("runtime error: slice bounds out of range [:16] with capacity {}", crypt.len()));
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".to_string());
    }
    let iv: [u8; 16] = iv.try_into().expect("split at 16");
    let decryptor = cbc::Decryptor::<aes::Aes256>::new(&aes_key(password).into(), &iv.into());
    let mut plain =
        decryptor.decrypt_padded_vec_mut::<cbc::cipher::block_padding::NoPadding>(body).map_err(|e| e.to_string())?;
    // Sprig drops as many bytes as the last one says, unchecked; Go panics past the start.
    let pad = usize::from(plain.last().copied().unwrap_or(0));
    if pad > plain.len() {
        return Err(format!("runtime error: slice bounds out of range [:-{}]", pad - plain.len()));
    }
    plain.truncate(plain.len() - pad);
    Ok(String::from_utf8_lossy(&plain).into_owned())
}

/// Go's `base64.CorruptInputError` text.
fn go_base64_error(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        _ => "illegal base64 data at input byte 0".to_string(),
    }
}

/// Adds the functions, drawing from `stream`, with certificates starting at `now_unix`.
pub(super) fn add_to(funcs: &mut Funcs, stream: &Arc<Mutex<Stream>>, now_unix: i64) {
    let with_stream = |f: fn(&mut Stream, &[Value]) -> Result<Value, String>| {
        let stream = Arc::clone(stream);
        move |_: &dyn crate::value::Context, a: &[Value]| -> Result<Value, String> {
            f(&mut stream.lock().unwrap_or_else(PoisonError::into_inner), a)
        }
    };
    funcs.insert(
        "genPrivateKey",
        Arity::Exactly(1),
        with_stream(|s, a| {
            let key = match str_arg(&a[0])? {
                "" | "rsa" => Key::rsa(s, 4096),
                "dsa" => return Ok(Value::from("failed to generate dsa params: DSA keys are not supported")),
                "ecdsa" => Ok(Key::ec(s)),
                "ed25519" => Ok(Key::ed25519(s)),
                other => return Ok(Value::String(format!("Unknown type {other}"))),
            };
            Ok(Value::String(match key.and_then(|k| k.to_pem()) {
                Ok(pem) => pem,
                Err(e) => format!("failed to generate private key: {e}"),
            }))
        }),
    );
    funcs.insert("buildCustomCert", Arity::Exactly(2), |_, a| {
        let decode = |v: &Value, what: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(str_arg(v)?)
                .map_err(|_| format!("unable to decode base64 {what}"))
        };
        let cert = decode(&a[0], "certificate")?;
        let key = decode(&a[1], "private key")?;
        let cert = String::from_utf8_lossy(&cert).into_owned();
        let key = String::from_utf8_lossy(&key).into_owned();
        let (_, der) = pem_decode(&cert).ok_or("unable to decode certificate")?;
        Certificate::from_der(&der).map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
        parse_key(&key).map_err(|e| format!("error parsing private key: {e}"))?;
        Ok(certificate(cert, key))
    });

    let ca = move |s: &mut Stream, a: &[Value], key: Option<&Value>| -> Result<Value, String> {
        let subject = Subject { is_ca: true, ..Subject::from_args(&a[0], &Value::Nil, &Value::Nil, &a[1])? };
        let key = match key {
            Some(pem) => parse_key(str_arg(pem)?).map_err(|e| format!("parsing private key: {e}"))?,
            None => Key::rsa(s, 2048).map_err(|e| format!("error generating rsa key: {e}"))?,
        };
        make_certificate(s, now_unix, &subject, &key, None)
    };
    {
        let first = Arc::clone(stream);
        funcs.insert("genCA", Arity::Exactly(2), move |_, a| {
            ca(&mut first.lock().unwrap_or_else(PoisonError::into_inner), a, None)
        });
        let stream = Arc::clone(stream);
        funcs.insert("genCAWithKey", Arity::Exactly(3), move |_, a| {
            ca(&mut stream.lock().unwrap_or_else(PoisonError::into_inner), a, Some(&a[2]))
        });
    }

    let self_signed = move |s: &mut Stream, a: &[Value], key: Option<&Value>| -> Result<Value, String> {
        let subject = Subject::from_args(&a[0], &a[1], &a[2], &a[3])?;
        let key = match key {
            Some(pem) => parse_key(str_arg(pem)?).map_err(|e| format!("parsing private key: {e}"))?,
            None => Key::rsa(s, 2048).map_err(|e| format!("error generating rsa key: {e}"))?,
        };
        make_certificate(s, now_unix, &subject, &key, None)
    };
    {
        let first = Arc::clone(stream);
        funcs.insert("genSelfSignedCert", Arity::Exactly(4), move |_, a| {
            self_signed(&mut first.lock().unwrap_or_else(PoisonError::into_inner), a, None)
        });
        let stream = Arc::clone(stream);
        funcs.insert("genSelfSignedCertWithKey", Arity::Exactly(5), move |_, a| {
            self_signed(&mut stream.lock().unwrap_or_else(PoisonError::into_inner), a, Some(&a[4]))
        });
    }

    let signed = move |s: &mut Stream, a: &[Value], key: Option<&Value>| -> Result<Value, String> {
        let subject = Subject::from_args(&a[0], &a[1], &a[2], &a[3])?;
        let (ca_cert, ca_key) = certificate_arg(&a[4])?;
        let key = match key {
            Some(pem) => parse_key(str_arg(pem)?).map_err(|e| format!("parsing private key: {e}"))?,
            None => Key::rsa(s, 2048).map_err(|e| format!("error generating rsa key: {e}"))?,
        };
        let (name, key_id, signer) = parse_issuer(&ca_cert, &ca_key)?;
        make_certificate(s, now_unix, &subject, &key, Some(Issuer { name, key_id, key: &signer }))
    };
    {
        let first = Arc::clone(stream);
        funcs.insert("genSignedCert", Arity::Exactly(5), move |_, a| {
            signed(&mut first.lock().unwrap_or_else(PoisonError::into_inner), a, None)
        });
        let stream = Arc::clone(stream);
        funcs.insert("genSignedCertWithKey", Arity::Exactly(6), move |_, a| {
            signed(&mut stream.lock().unwrap_or_else(PoisonError::into_inner), a, Some(&a[5]))
        });
    }

    add_passwords(funcs, stream);
}

/// Adds `derivePassword`, `bcrypt`, `htpasswd`, `encryptAES`, `decryptAES` and `randBytes`.
fn add_passwords(funcs: &mut Funcs, stream: &Arc<Mutex<Stream>>) {
    let with_stream = |f: fn(&mut Stream, &[Value]) -> Result<Value, String>| {
        let stream = Arc::clone(stream);
        move |_: &dyn crate::value::Context, a: &[Value]| -> Result<Value, String> {
            f(&mut stream.lock().unwrap_or_else(PoisonError::into_inner), a)
        }
    };
    funcs.insert("derivePassword", Arity::Exactly(5), |_, a| {
        let counter = int_arg(&a[0])?;
        let counter = u32::try_from(counter).map_err(|_| format!("{counter} overflows uint32"))?;
        let [kind, password, user, site] = [&a[1], &a[2], &a[3], &a[4]].map(str_arg);
        Ok(Value::String(derive_password(counter, kind?, password?, user?, site?)))
    });
    funcs.insert("bcrypt", Arity::Exactly(1), with_stream(|s, a| Ok(Value::String(bcrypt(s, str_arg(&a[0])?)))));
    funcs.insert(
        "htpasswd",
        Arity::Exactly(2),
        with_stream(|s, a| {
            let (user, password) = (str_arg(&a[0])?, str_arg(&a[1])?);
            if user.contains(':') {
                return Ok(Value::String(format!("invalid username: {user}")));
            }
            Ok(Value::String(format!("{user}:{}", bcrypt(s, password))))
        }),
    );
    funcs.insert(
        "encryptAES",
        Arity::Exactly(2),
        with_stream(|s, a| Ok(Value::String(encrypt_aes(s, str_arg(&a[0])?, str_arg(&a[1])?)))),
    );
    funcs.insert("decryptAES", Arity::Exactly(2), |_, a| {
        decrypt_aes(str_arg(&a[0])?, str_arg(&a[1])?).map(Value::String)
    });
    funcs.insert(
        "randBytes",
        Arity::Exactly(1),
        with_stream(|s, a| {
            let n = usize::try_from(int_arg(&a[0])?)
                .map_err(|_| "runtime error: makeslice: len out of range".to_string())?;
            if n > crate::sprig::MAX_MADE {
                return Err(format!("cannot make more than {} random bytes", crate::sprig::MAX_MADE));
            }
            let mut bytes = vec![0u8; n];
            rand_core::RngCore::fill_bytes(&mut Rng(s), &mut bytes);
            Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
        }),
    );
}

#[cfg(test)]
mod tests {
    use rsa::signature::Verifier as _;

    use super::*;
    use crate::{Options, Templates};

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn render_with(seed: &[u8], text: &str) -> Result<String, String> {
        let mut funcs = Funcs::new();
        crate::sprig::add_to(&mut funcs);
        super::super::add_to(&mut funcs, seed, NOW);
        let mut set = Templates::new(funcs, Options::default());
        set.parse("t", text).map_err(|e| e.to_string())?;
        set.execute("t", &Value::Nil).map_err(|e| e.to_string())
    }

    fn render(text: &str) -> String {
        render_with(b"seed", text).unwrap()
    }

    fn parse_cert(pem_text: &str) -> Certificate {
        let (kind, der) = pem_decode(pem_text).unwrap();
        assert_eq!(kind, "CERTIFICATE");
        Certificate::from_der(&der).unwrap()
    }

    /// Checks that `cert` is signed by the key of `issuer`'s public key info.
    fn verify(cert: &Certificate, issuer: &SubjectPublicKeyInfoOwned) {
        let tbs = cert.tbs_certificate.to_der().unwrap();
        let signature = cert.signature.raw_bytes();
        let key_der = issuer.to_der().unwrap();
        match issuer.algorithm.oid {
            OID_RSA => {
                let key: rsa::RsaPublicKey = spki::DecodePublicKey::from_public_key_der(&key_der).unwrap();
                let signature = rsa::pkcs1v15::Signature::try_from(signature).unwrap();
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key).verify(&tbs, &signature).unwrap();
            }
            OID_EC_PUBLIC_KEY => {
                let key: p256::PublicKey = spki::DecodePublicKey::from_public_key_der(&key_der).unwrap();
                let signature = p256::ecdsa::Signature::from_der(signature).unwrap();
                p256::ecdsa::VerifyingKey::from(key).verify(&tbs, &signature).unwrap();
            }
            OID_ED25519 => {
                let key: [u8; 32] = issuer.subject_public_key.raw_bytes().try_into().unwrap();
                let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
                key.verify(&tbs, &ed25519_dalek::Signature::from_slice(signature).unwrap()).unwrap();
            }
            other => panic!("unexpected key algorithm {other}"),
        }
    }

    fn cn(name: &Name) -> String {
        name.to_string()
    }

    fn sans(cert: &Certificate) -> Vec<String> {
        let Some((_, san)) = cert.tbs_certificate.get::<SubjectAltName>().unwrap() else { return Vec::new() };
        san.0
            .iter()
            .map(|n| match n {
                GeneralName::DnsName(d) => d.to_string(),
                GeneralName::IpAddress(ip) => format!("{:?}", ip.as_bytes()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn validity(cert: &Certificate) -> (u64, u64) {
        let v = &cert.tbs_certificate.validity;
        (v.not_before.to_unix_duration().as_secs(), v.not_after.to_unix_duration().as_secs())
    }

    #[test]
    fn a_ca_signs_a_certificate_that_verifies_against_it() {
        let out = render(concat!(
            r#"{{ $ca := genCA "my-ca" 365 }}{{ $c := genSignedCert "svc" (list "10.0.0.1") (list "svc.ns" "svc.ns.svc") 30 $ca }}"#,
            r#"{{ $ca.Cert }}|{{ $ca.Key }}|{{ $c.Cert }}|{{ $c.Key }}"#
        ));
        let parts: Vec<&str> = out.split('|').collect();
        let (ca, ca_key, leaf, leaf_key) =
            (parse_cert(parts[0]), parse_key(parts[1]).unwrap(), parse_cert(parts[2]), parse_key(parts[3]).unwrap());
        assert!(parts[1].starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert_eq!(cn(&ca.tbs_certificate.subject), "CN=my-ca");
        assert_eq!(ca.tbs_certificate.issuer, ca.tbs_certificate.subject);
        verify(&ca, &ca.tbs_certificate.subject_public_key_info);
        assert_eq!(ca_key.public_key_info().unwrap(), ca.tbs_certificate.subject_public_key_info);
        let (_, constraints) = ca.tbs_certificate.get::<BasicConstraints>().unwrap().unwrap();
        assert!(constraints.ca);
        assert_eq!(validity(&ca), (NOW as u64, NOW as u64 + 365 * 86_400));

        assert_eq!(cn(&leaf.tbs_certificate.subject), "CN=svc");
        assert_eq!(leaf.tbs_certificate.issuer, ca.tbs_certificate.subject);
        verify(&leaf, &ca.tbs_certificate.subject_public_key_info);
        assert_eq!(leaf_key.public_key_info().unwrap(), leaf.tbs_certificate.subject_public_key_info);
        let (_, constraints) = leaf.tbs_certificate.get::<BasicConstraints>().unwrap().unwrap();
        assert!(!constraints.ca);
        assert_eq!(sans(&leaf), ["svc.ns", "svc.ns.svc", "[10, 0, 0, 1]"]);
        assert_eq!(validity(&leaf), (NOW as u64, NOW as u64 + 30 * 86_400));
        assert_ne!(leaf.tbs_certificate.serial_number, ca.tbs_certificate.serial_number);
        let (_, ca_id) = ca.tbs_certificate.get::<x509_cert::ext::pkix::SubjectKeyIdentifier>().unwrap().unwrap();
        let (_, leaf_authority) =
            leaf.tbs_certificate.get::<x509_cert::ext::pkix::AuthorityKeyIdentifier>().unwrap().unwrap();
        assert_eq!(leaf_authority.key_identifier, Some(ca_id.0));
    }

    #[test]
    fn keys_and_certificates_follow_the_seed() {
        let text = r#"{{ $k := genPrivateKey "ecdsa" }}{{ $c := genSelfSignedCertWithKey "x" nil nil 1 $k }}{{ $k }}{{ $c.Cert }}{{ genPrivateKey "ed25519" }}{{ htpasswd "u" "p" }}{{ encryptAES "k" "text" }}"#;
        let a = render_with(b"one", text).unwrap();
        assert_eq!(a, render_with(b"one", text).unwrap());
        assert_ne!(a, render_with(b"two", text).unwrap());
        let rsa = r#"{{ (genSelfSignedCert "x" nil nil 1).Key }}"#;
        assert_eq!(render_with(b"one", rsa).unwrap(), render_with(b"one", rsa).unwrap());
        assert_ne!(render_with(b"one", rsa).unwrap(), render_with(b"two", rsa).unwrap());
    }

    #[test]
    fn certificates_take_keys_of_each_kind() {
        for kind in ["ecdsa", "ed25519"] {
            let out = render(&format!(
                r#"{{{{ $k := genPrivateKey "{kind}" }}}}{{{{ $ca := genCAWithKey "ca" 10 $k }}}}{{{{ $c := genSignedCertWithKey "" (list "::1" "::ffff:1.2.3.4") nil 5 $ca (genPrivateKey "{kind}") }}}}{{{{ $c.Cert }}}}|{{{{ $c.Key }}}}|{{{{ $ca.Cert }}}}|{{{{ $k }}}}"#
            ));
            let parts: Vec<&str> = out.split('|').collect();
            let (leaf, ca) = (parse_cert(parts[0]), parse_cert(parts[2]));
            verify(&ca, &ca.tbs_certificate.subject_public_key_info);
            verify(&leaf, &ca.tbs_certificate.subject_public_key_info);
            assert_eq!(
                parse_key(parts[1]).unwrap().public_key_info().unwrap(),
                leaf.tbs_certificate.subject_public_key_info
            );
            assert_eq!(parts[3], parse_key(parts[3]).unwrap().to_pem().unwrap(), "{kind} keys read back as written");
            assert!(leaf.tbs_certificate.subject.0.is_empty());
            let (critical, _) = leaf.tbs_certificate.get::<SubjectAltName>().unwrap().unwrap();
            assert!(critical, "names of an empty subject are critical");
            assert_eq!(
                sans(&leaf),
                [
                    format!("{:?}", [0u8; 15].iter().chain(&[1]).collect::<Vec<_>>()).replace('&', ""),
                    "[1, 2, 3, 4]".into()
                ]
            );
        }
        assert!(render(r#"{{ genPrivateKey "ecdsa" }}"#).starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        assert!(render(r#"{{ genPrivateKey "ed25519" }}"#).starts_with("-----BEGIN PRIVATE KEY-----\n"));
    }

    #[test]
    fn gen_private_key_rsa_is_4096_bits() {
        let key = render(r#"{{ genPrivateKey "rsa" }}"#);
        let Key::Rsa(key) = parse_key(&key).unwrap() else { panic!("not RSA") };
        assert_eq!(rsa::traits::PublicKeyParts::size(key.as_ref()), 512);
    }

    #[test]
    fn build_custom_cert_reads_back_what_gen_made() {
        let out = render(concat!(
            r#"{{ $c := genSelfSignedCert "a" nil (list "a.example") 3 }}"#,
            r#"{{ $b := buildCustomCert ($c.Cert | b64enc) ($c.Key | b64enc) }}{{ eq $b.Cert $c.Cert }} {{ eq $b.Key $c.Key }}"#
        ));
        assert_eq!(out, "true true");
    }

    #[test]
    fn bad_input_gives_sprig_errors() {
        let cases = [
            (r#"{{ genPrivateKey "foo" }}"#, Ok("Unknown type foo")),
            (r#"{{ genPrivateKey "dsa" }}"#, Ok("failed to generate dsa params: DSA keys are not supported")),
            (r#"{{ htpasswd "a:b" "p" }}"#, Ok("invalid username: a:b")),
            (r#"{{ derivePassword 1 "nope" "p" "u" "s" }}"#, Ok("cannot find password template nope")),
            (r#"{{ genSelfSignedCert "a" (list "1.2.3") nil 1 }}"#, Err("error parsing ip: 1.2.3")),
            (
                r#"{{ genSelfSignedCert "a" nil (list 1) 1 }}"#,
                Err("error processing alternate dns name: 1 is not a string"),
            ),
            (r#"{{ genCAWithKey "a" 1 "junk" }}"#, Err("parsing private key: no PEM data in input")),
            (
                r#"{{ genSignedCert "a" nil nil 1 (dict) }}"#,
                Err("wrong type for value; expected sprig.certificate; got map[string]interface {}"),
            ),
            (r#"{{ buildCustomCert "!" "" }}"#, Err("unable to decode base64 certificate")),
            (r#"{{ buildCustomCert ("x" | b64enc) "" }}"#, Err("unable to decode certificate")),
            (r#"{{ decryptAES "k" "!!" }}"#, Err("illegal base64 data at input byte 0")),
        ];
        for (text, want) in cases {
            let got = render_with(b"s", text);
            match want {
                Ok(want) => assert_eq!(got.as_deref(), Ok(want), "{text}"),
                Err(want) => assert!(got.as_ref().is_err_and(|e| e.ends_with(want)), "{text}: {got:?}"),
            }
        }
    }

    #[test]
    fn derive_password_matches_sprig() {
        let cases = [
            (1, "long", "ZedaFaxcZaso9*"),
            (2, "long", "Fovi2@JifpTupx"),
            (1, "maximum", "pf4zS1LjCg&LjhsZ7T2~"),
            (1, "medium", "ZedJuz8$"),
            (1, "basic", "pIS54PLs"),
            (1, "short", "Zed5"),
            (1, "pin", "6685"),
        ];
        for (counter, kind, want) in cases {
            assert_eq!(derive_password(counter, kind, "password", "user", "example.com"), want, "{kind} {counter}");
        }
    }

    #[test]
    fn bcrypt_matches_the_reference_vectors() {
        let engine =
            base64::engine::GeneralPurpose::new(&base64::alphabet::BCRYPT, base64::engine::general_purpose::NO_PAD);
        let salt: [u8; 16] = engine.decode("CCCCCCCCCCCCCCCCCCCCC.").unwrap().try_into().unwrap();
        assert_eq!(bcrypt_with("U*U", 5, salt), "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
        let hash = render(r#"{{ bcrypt "secret" }}"#);
        assert!(hash.starts_with("$2a$10$") && hash.len() == 60, "{hash}");
        assert!(render(r#"{{ htpasswd "me" "pw" }}"#).starts_with("me:$2a$10$"));
        assert_eq!(
            render(&format!("{{{{ bcrypt {:?} }}}}", "x".repeat(73))),
            "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
        );
    }

    #[test]
    fn aes_round_trips_and_reads_go_ciphertext() {
        assert_eq!(render(r#"{{ encryptAES "secretkey" "plaintext" | decryptAES "secretkey" }}"#), "plaintext");
        assert_eq!(render(r#"{{ encryptAES "k" "" }}|{{ decryptAES "k" "" }}"#), "|");
        // AES-256-CBC of "plaintext" under "secretkey" padded with zeros, IV 00..0f (as Go's
        // encryptAES would make it with that IV; computed with Python's `cryptography`).
        assert_eq!(
            render(r#"{{ decryptAES "secretkey" "AAECAwQFBgcICQoLDA0OD4aChIkqfhLglmmHSXlA6r0=" }}"#),
            "plaintext"
        );
        assert_eq!(render("{{ randBytes 12 | len }}"), "16");
    }
}
