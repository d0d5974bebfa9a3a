//! User cloud-config merged under what clem-image generates.
//!
//! Rules, applied key by key from the top: mappings merge; lists join (the higher layer's
//! items first for clem-image, so its own `runcmd` runs first; cluster items before node
//! items); anything else conflicting is won by the higher layer: the node's config over the
//! cluster's, clem-image's over both. A `users` entry naming a user clem-image defines is
//! dropped, so one user is not configured twice. Every conflict is reported.

use serde_json::{Map, Value};

/// One source of keys: `name` as it appears in reports ("cluster cloud-config").
pub struct Layer<'a> {
    pub name: &'a str,
    pub doc: &'a Map<String, Value>,
}

/// Merges `user` layers (rising precedence), then `tool` on top. Returns the document and
/// what the merge did, one line per key it had to decide.
pub fn merge(user: &[Layer<'_>], tool: &Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
    let mut notes = Vec::new();
    let mut acc = Map::new();
    let mut acc_name = String::new();
    for layer in user {
        if acc_name.is_empty() {
            acc = layer.doc.clone();
            acc_name = layer.name.to_string();
        } else {
            merge_map(
                &mut acc, &acc_name, layer.doc, layer.name, false, "", &mut notes,
            );
            acc_name = "your cloud-config".into();
        }
    }
    let added: Vec<&str> = acc
        .keys()
        .filter(|k| !tool.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !added.is_empty() {
        notes.push(format!("added from {acc_name}: {}", added.join(", ")));
    }
    if let Some(Value::Array(users)) = acc.get_mut("users") {
        let tool_users = tool_user_names(tool);
        users.retain(|u| {
            let name = u.get("name").and_then(Value::as_str);
            match name {
                Some(n) if tool_users.contains(&n) => {
                    notes.push(format!(
                        "users: the entry for {n} from {acc_name} is dropped: clem-image defines that user"
                    ));
                    false
                }
                _ => true,
            }
        });
    }
    merge_map(
        &mut acc,
        &acc_name,
        tool,
        "clem-image",
        true,
        "",
        &mut notes,
    );
    (acc, notes)
}

fn tool_user_names(tool: &Map<String, Value>) -> Vec<&str> {
    tool.get("users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| u.get("name").and_then(Value::as_str))
        .collect()
}

fn merge_map(
    lower: &mut Map<String, Value>,
    lower_name: &str,
    higher: &Map<String, Value>,
    higher_name: &str,
    higher_lists_first: bool,
    path: &str,
    notes: &mut Vec<String>,
) {
    for (k, hv) in higher {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let Some(lv) = lower.get_mut(k) else {
            lower.insert(k.clone(), hv.clone());
            continue;
        };
        match (lv, hv) {
            (Value::Object(lm), Value::Object(hm)) => merge_map(
                lm,
                lower_name,
                hm,
                higher_name,
                higher_lists_first,
                &p,
                notes,
            ),
            (Value::Array(la), Value::Array(ha)) => {
                let (first, then) = if higher_lists_first {
                    ((higher_name, ha.len()), (lower_name, la.len()))
                } else {
                    ((lower_name, la.len()), (higher_name, ha.len()))
                };
                notes.push(format!(
                    "{p}: lists joined, {} item(s) from {} then {} from {}",
                    first.1, first.0, then.1, then.0
                ));
                if higher_lists_first {
                    let mut joined = ha.clone();
                    joined.append(la);
                    *la = joined;
                } else {
                    la.extend(ha.iter().cloned());
                }
            }
            (lv, hv) => {
                if lv != hv {
                    notes.push(format!(
                        "{p}: {higher_name}'s value wins over the one from {lower_name}"
                    ));
                }
                *lv = hv.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn tool_wins_lists_join_and_every_decision_is_reported() {
        let cluster = obj(json!({
            "hostname": "mine",
            "runcmd": ["echo cluster"],
            "write_files": [{"path": "/a"}],
            "users": [{"name": "pi", "shell": "/bin/zsh"}, {"name": "ops"}],
            "apt": {"preserve_sources_list": true}
        }));
        let node =
            obj(json!({"runcmd": ["echo node"], "apt": {"conf": "x"}, "write_files": "oops"}));
        let tool = obj(json!({
            "hostname": "rpi1",
            "users": [{"name": "pi"}],
            "runcmd": [["systemctl", "start", "x"]]
        }));
        let (doc, notes) = merge(
            &[
                Layer {
                    name: "cluster cloud-config",
                    doc: &cluster,
                },
                Layer {
                    name: "node rpi1 cloud-config",
                    doc: &node,
                },
            ],
            &tool,
        );
        assert_eq!(doc["hostname"], "rpi1");
        assert_eq!(
            doc["runcmd"],
            json!([["systemctl", "start", "x"], "echo cluster", "echo node"])
        );
        assert_eq!(doc["users"], json!([{"name": "pi"}, {"name": "ops"}]));
        assert_eq!(
            doc["apt"],
            json!({"preserve_sources_list": true, "conf": "x"})
        );
        assert_eq!(doc["write_files"], "oops");
        let all = notes.join("\n");
        for want in [
            "hostname: clem-image's value wins",
            "runcmd: lists joined",
            "users: the entry for pi",
            "write_files: node rpi1 cloud-config's value wins",
            "added from your cloud-config: apt, write_files",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
    }
}
