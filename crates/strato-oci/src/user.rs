//! Resolving a task's `user` (`uid[:gid]`, `name[:group]`) against the
//! image's own `/etc/passwd` and `/etc/group`, as Docker does.

use std::fs;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("user {user:?}: {why}")]
pub struct UserError {
    user: String,
    why: String,
}

/// (uid, gid, supplementary gids) for `user` inside `rootfs`.
pub fn resolve(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>), UserError> {
    let err = |why: &str| UserError {
        user: user.to_string(),
        why: why.to_string(),
    };
    if user.is_empty() {
        return Ok((0, 0, vec![]));
    }
    let (who, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let groups = fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let entry = |name: &str, table: &str| -> Option<Vec<String>> {
        table
            .lines()
            .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
            .find(|f| {
                f.first().map(String::as_str) == Some(name)
                    || f.get(2).map(String::as_str) == Some(name)
            })
    };
    let (uid, primary_gid, name) = match who.parse::<u32>() {
        Ok(uid) => {
            let found = entry(who, &passwd);
            let gid = found
                .as_ref()
                .and_then(|f| f.get(3)?.parse().ok())
                .unwrap_or(uid);
            let name = found.and_then(|f| f.first().cloned());
            (uid, gid, name)
        }
        Err(_) => {
            let f = entry(who, &passwd)
                .ok_or_else(|| err("no such user in the image's /etc/passwd"))?;
            let uid = f
                .get(2)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| err("bad /etc/passwd entry"))?;
            let gid = f
                .get(3)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| err("bad /etc/passwd entry"))?;
            (uid, gid, Some(who.to_string()))
        }
    };
    let gid = match group {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => entry(g, &groups)
                .and_then(|f| f.get(2)?.parse().ok())
                .ok_or_else(|| err("no such group in the image's /etc/group"))?,
        },
    };
    let supplementary = match (&name, group) {
        (Some(name), None) => groups
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                let members = f.get(3)?;
                members
                    .split(',')
                    .any(|m| m == name)
                    .then(|| f.get(2)?.parse().ok())?
            })
            .filter(|g| *g != gid)
            .collect(),
        _ => vec![],
    };
    Ok((uid, gid, supplementary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve_in_the_image() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("etc")).unwrap();
        fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(
            root.path().join("etc/group"),
            "root:x:0:\napp:x:1001:\nvideo:x:44:app\n",
        )
        .unwrap();
        assert_eq!(resolve(root.path(), "").unwrap(), (0, 0, vec![]));
        assert_eq!(resolve(root.path(), "app").unwrap(), (1000, 1001, vec![44]));
        assert_eq!(
            resolve(root.path(), "1000").unwrap(),
            (1000, 1001, vec![44])
        );
        assert_eq!(resolve(root.path(), "4242:7").unwrap(), (4242, 7, vec![]));
        assert_eq!(
            resolve(root.path(), "app:video").unwrap(),
            (1000, 44, vec![])
        );
        assert!(resolve(root.path(), "nobody-here").is_err());
    }
}
