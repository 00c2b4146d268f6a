//! Fixtures shared by the integration tests: a keyring, and requests signed the way an SDK signs
//! them (aws-sigv4's signing side with default settings, service `bedrock`).
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used)]

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderName, HeaderValue};
use spillway_auth::Keyring;
use spillway_catalog::{AccessKey, Account};

pub const ACCOUNT: &str = "111122223333";
pub const TEMP_ACCOUNT: &str = "444455556666";
pub const AKID: &str = "AKIDEXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// An access key that may only be used with one of its session tokens (temporary credentials).
pub const TEMP_AKID: &str = "ASIATEMPEXAMPLE";
pub const TEMP_SECRET: &str = "temporary-secret";
pub const TOKENS: [&str; 2] = ["FwoGZXIvYXdzEXAMPLETOKEN1", "FwoGZXIvYXdzEXAMPLETOKEN2"];
pub const API_KEY: &str = "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl";

pub const HOST: &str = "bedrock-runtime.eu-west-3.amazonaws.com";
pub const CONVERSE: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
pub const BODY: &[u8] = br#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}"#;

pub fn keyring() -> Keyring {
    Keyring::new(&[
        Account {
            id: ACCOUNT.into(),
            access_keys: vec![AccessKey { id: AKID.into(), secret: SECRET.into(), session_tokens: vec![] }],
            api_keys: vec![API_KEY.into()],
        },
        Account {
            id: TEMP_ACCOUNT.into(),
            access_keys: vec![AccessKey {
                id: TEMP_AKID.into(),
                secret: TEMP_SECRET.into(),
                session_tokens: TOKENS.iter().map(|t| t.to_string()).collect(),
            }],
            api_keys: vec![],
        },
    ])
}

/// 2024-01-01T00:10:00Z, the clock most tests sign and verify at.
pub fn t0() -> SystemTime {
    SystemTime::from(time::macros::datetime!(2024-01-01 00:10 UTC))
}

/// What to sign; `Default` is a Converse call from eu-west-3 with the standard credentials.
pub struct Sign<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    pub akid: &'a str,
    pub secret: &'a str,
    pub token: Option<&'a str>,
    pub region: &'a str,
    pub at: SystemTime,
    /// Headers present before signing (all get signed, as the SDKs do with theirs).
    pub headers: Vec<(&'a str, &'a str)>,
    pub settings: SigningSettings,
}

impl Default for Sign<'_> {
    fn default() -> Self {
        Self {
            method: "POST",
            path: CONVERSE,
            body: BODY,
            akid: AKID,
            secret: SECRET,
            token: None,
            region: "eu-west-3",
            at: t0(),
            headers: vec![("host", HOST), ("content-type", "application/json")],
            settings: SigningSettings::default(),
        }
    }
}

impl Sign<'_> {
    /// Signs and returns the headers as sent on the wire (the originals plus the signer's
    /// `authorization`, `x-amz-date` and, with a token, `x-amz-security-token`).
    pub fn headers(self) -> HeaderMap {
        let identity = Credentials::new(self.akid, self.secret, self.token.map(str::to_owned), None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name("bedrock")
            .time(self.at)
            .settings(self.settings)
            .build()
            .unwrap()
            .into();
        let request =
            SignableRequest::new(self.method, self.path, self.headers.iter().copied(), SignableBody::Bytes(self.body))
                .unwrap();
        let (instructions, _signature) = sign(request, &params).unwrap().into_parts();
        let mut map = HeaderMap::new();
        let added = instructions.headers().map(|(n, v)| (n.to_owned(), v.to_owned())).collect::<Vec<_>>();
        for (name, value) in self.headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).chain(added) {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(&value).unwrap());
        }
        map
    }
}
