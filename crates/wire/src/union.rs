//! Smithy unions on the wire: a JSON object with exactly one non-null member.
//!
//! serde's externally tagged enums almost fit, but their errors for `{}` or for two
//! members are cryptic. This macro generates the enum, a `Serialize` that writes the one
//! member, and a `Deserialize` that counts members and says what it found, while nested
//! values keep their path for `serde_path_to_error`.

macro_rules! smithy_union {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident($ty:ty) = $key:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $key)] $variant($ty), )*
            /// A member this server does not model, kept by name so errors can name it.
            #[serde(skip)]
            Unknown(String),
        }

        impl $name {
            /// The wire name of the member that is set.
            pub fn member_name(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $key, )*
                    Self::Unknown(name) => name.as_str(),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl<'de> serde::de::Visitor<'de> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "a {} object with exactly one member", stringify!($name))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut found: Option<$name> = None;
                        // The first set member's name is borrowed from the body; the names
                        // of any further ones (an error) are kept for the message.
                        let mut first: Option<$crate::union::Key<'de>> = None;
                        let mut more: Vec<String> = Vec::new();
                        while let Some(key) = map.next_key::<$crate::union::Key<'de>>()? {
                            let value = match key.as_str() {
                                $( $key => map.next_value::<Option<$ty>>()?.map($name::$variant), )*
                                other => {
                                    let v: serde_json::Value = map.next_value()?;
                                    (!v.is_null()).then(|| $name::Unknown(other.to_owned()))
                                }
                            };
                            if let Some(v) = value {
                                match first {
                                    None => first = Some(key),
                                    Some(_) => more.push(key.0.into_owned()),
                                }
                                found = Some(v);
                            }
                        }
                        let names = || first.iter().map(|k| k.as_str()).chain(more.iter().map(String::as_str));
                        match (names().count(), found) {
                            (1, Some(v)) => Ok(v),
                            (0, _) => Err(serde::de::Error::custom(format!(
                                "{} must have exactly one member set, found none",
                                stringify!($name)
                            ))),
                            (n, _) => Err(serde::de::Error::custom(format!(
                                "{} must have exactly one member set, found {} ({})",
                                stringify!($name),
                                n,
                                names().collect::<Vec<_>>().join(", ")
                            ))),
                        }
                    }
                }
                d.deserialize_map(Visitor)
            }
        }
    };
}

pub(crate) use smithy_union;

use std::borrow::Cow;

/// A union's member name: borrowed from the body when it has no escapes (serde's own
/// `Cow<str>` always copies), so reading the usual one-member union allocates nothing
/// for its key.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    smithy_union! {
        pub enum Pick { A(String) = "a", B(u32) = "b" }
    }

    #[test]
    fn exactly_one_member_is_accepted() {
        let p: Pick = serde_json::from_value(json!({"a": "x"})).unwrap();
        assert_eq!(p, Pick::A("x".into()));
        assert_eq!(serde_json::to_value(&p).unwrap(), json!({"a": "x"}));
        // A null member counts as not set, as botocore treats it.
        let p: Pick = serde_json::from_value(json!({"a": null, "b": 3})).unwrap();
        assert_eq!(p, Pick::B(3));
    }

    #[test]
    fn zero_or_two_members_are_rejected_with_names() {
        let e = serde_json::from_value::<Pick>(json!({})).unwrap_err().to_string();
        assert!(e.contains("found none"), "{e}");
        let e = serde_json::from_value::<Pick>(json!({"a": "x", "b": 1})).unwrap_err().to_string();
        assert!(e.contains("found 2 (a, b)"), "{e}");
    }

    #[test]
    fn unknown_member_is_kept_by_name() {
        let p: Pick = serde_json::from_value(json!({"zz": {"q": 1}})).unwrap();
        assert_eq!(p.member_name(), "zz");
    }
}
