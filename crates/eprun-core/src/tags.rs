//! Ownership tags: `eprun:stack`, `eprun:address` and `Name`, set in the create call itself.

use crate::address::Address;
use crate::resource::Props;
use serde_json::Value;
use std::collections::BTreeMap;

/// The tag naming the owning stack.
pub const STACK_TAG: &str = "eprun:stack";
/// The tag naming the resource's address in its stack.
pub const ADDRESS_TAG: &str = "eprun:address";

/// Tags as an ordered map.
pub type Tags = BTreeMap<String, String>;

/// The full tag set for a create call: `Name`, the ownership tags, then the user's `tags`.
pub fn ownership_tags(stack: &str, address: &Address, props: &Props) -> Vec<(String, String)> {
    let mut tags: Tags = user_tags(props);
    tags.entry("Name".into())
        .or_insert_with(|| address.name().to_string());
    tags.insert(STACK_TAG.into(), stack.into());
    tags.insert(ADDRESS_TAG.into(), address.to_string());
    tags.into_iter().collect()
}

/// The `tags` prop as a map.
pub fn user_tags(props: &Props) -> Tags {
    props
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// What a tagged resource reports: its address (if owned by `stack`) and the user-visible tags.
pub fn split_owned(
    stack: &str,
    tags: impl IntoIterator<Item = (String, String)>,
) -> Option<(Address, Value)> {
    let all: Tags = tags.into_iter().collect();
    if all.get(STACK_TAG).map(String::as_str) != Some(stack) {
        return None;
    }
    let address: Address = all.get(ADDRESS_TAG)?.parse().ok()?;
    let visible = visible(&address, all);
    Some((address, visible))
}

/// The user-visible tags of the resource at `address`: no `eprun:` or `aws:` tags, and no `Name`
/// that is just its address name.
pub fn visible(address: &Address, tags: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::Object(
        tags.into_iter()
            .filter(|(k, _)| !k.starts_with("eprun:") && !k.starts_with("aws:"))
            .filter(|(k, v)| !(k == "Name" && v == address.name()))
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// What the tags of a resource found by its name say about who owns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    /// Tagged for this stack: its address and user-visible tags.
    Ours(Address, Value),
    /// No ownership tags (made by hand, by another tool, or by this stack just before a crash):
    /// adopted by its name.
    Untagged(Value),
    /// Tagged for another stack: not ours.
    Other,
}

impl Owner {
    /// The address to report, and the user-visible tags; `None` when the resource is not ours.
    pub fn split(self) -> Option<(Option<Address>, Value)> {
        match self {
            Owner::Ours(a, t) => Some((Some(a), t)),
            Owner::Untagged(t) => Some((None, t)),
            Owner::Other => None,
        }
    }
}

/// Classifies a resource by its tags, from any tag source (EC2 lists, EKS maps, KMS lists, …).
pub fn owner(stack: &str, all: impl IntoIterator<Item = (String, String)>) -> Owner {
    let all: Tags = all.into_iter().collect();
    match all.get(STACK_TAG) {
        Some(s) if s != stack => Owner::Other,
        _ => match split_owned(stack, all.clone()) {
            Some((address, visible)) => Owner::Ours(address, visible),
            None => Owner::Untagged(Value::Object(
                all.into_iter()
                    .filter(|(k, _)| !k.starts_with("eprun:") && !k.starts_with("aws:"))
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )),
        },
    }
}

/// The tag changes that turn `current` user tags into `desired`: (to set, to remove).
pub fn tag_changes(current: &Props, desired: &Props) -> (Vec<(String, String)>, Vec<String>) {
    let cur = user_tags(current);
    let want = user_tags(desired);
    let set = want
        .iter()
        .filter(|(k, v)| cur.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = cur
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

/// The value of tag `key`: a prop that AWS does not keep, kept as an `eprun:` tag so that a read
/// (and a delete after a lost state) knows it.
pub fn kept<T: std::str::FromStr>(tags: &[(String, String)], key: &str) -> Option<T> {
    tags.iter().find(|(k, _)| k == key)?.1.parse().ok()
}

/// `tags` with tag `key` set to `value`, or left out when it is `None`.
pub fn keep(
    tags: &[(String, String)],
    key: &str,
    value: Option<impl ToString>,
) -> Vec<(String, String)> {
    let mut all: Vec<_> = tags.iter().filter(|(k, _)| k != key).cloned().collect();
    all.extend(value.map(|v| (key.to_string(), v.to_string())));
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tagged(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn owner_tells_ours_untagged_and_others() {
        let ours = tagged(&[
            (STACK_TAG, "s"),
            (ADDRESS_TAG, "eks.cluster.main"),
            ("team", "x"),
        ]);
        assert_eq!(
            owner("s", ours),
            Owner::Ours("eks.cluster.main".parse().unwrap(), json!({"team": "x"}))
        );
        assert_eq!(
            owner("s", tagged(&[("team", "x")])),
            Owner::Untagged(json!({"team": "x"}))
        );
        assert_eq!(
            owner(
                "s",
                tagged(&[(STACK_TAG, "other"), (ADDRESS_TAG, "eks.cluster.main")])
            ),
            Owner::Other
        );
    }

    #[test]
    fn ownership_tags_carry_stack_address_and_name() {
        let a: Address = "ec2.vpc.main".parse().unwrap();
        let props = json!({"tags": {"team": "payments"}})
            .as_object()
            .unwrap()
            .clone();
        let tags: Tags = ownership_tags("prod/us-east-1", &a, &props)
            .into_iter()
            .collect();
        assert_eq!(tags["Name"], "main");
        assert_eq!(tags[STACK_TAG], "prod/us-east-1");
        assert_eq!(tags[ADDRESS_TAG], "ec2.vpc.main");
        assert_eq!(tags["team"], "payments");
    }

    #[test]
    fn other_stacks_are_not_ours() {
        let tags = vec![
            (STACK_TAG.to_string(), "other".to_string()),
            (ADDRESS_TAG.to_string(), "ec2.vpc.a".to_string()),
        ];
        assert!(split_owned("mine", tags).is_none());
    }

    #[test]
    fn visible_tags_drop_ownership_and_default_name() {
        let tags = vec![
            (STACK_TAG.to_string(), "s".to_string()),
            (ADDRESS_TAG.to_string(), "ec2.vpc.a".to_string()),
            ("Name".to_string(), "a".to_string()),
            ("team".to_string(), "x".to_string()),
        ];
        let (addr, visible) = split_owned("s", tags).unwrap();
        assert_eq!(addr.to_string(), "ec2.vpc.a");
        assert_eq!(visible, json!({"team": "x"}));
    }
}
