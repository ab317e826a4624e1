//! Ferry's own SSH key pair for rented machines: made once (ed25519, private half 0600) with
//! the system's `ssh-keygen`, and given to each provider the way it requires.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub private: PathBuf,
    /// The public half in OpenSSH's one-line form.
    pub public: String,
}

/// The key pair in `dir` (`id_ed25519`, `id_ed25519.pub`), made if missing. A private key
/// readable by others is refused (ssh would refuse it too), with the fix.
pub fn ensure(dir: &Path) -> Result<KeyPair, String> {
    let private = dir.join("id_ed25519");
    let public = dir.join("id_ed25519.pub");
    if !private.exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        let tmp = dir.join(format!("id_ed25519.tmp{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(format!("{}.pub", tmp.display()));
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "ferry", "-f"])
            .arg(&tmp)
            .output()
            .map_err(|e| format!("cannot run ssh-keygen (install openssh-client): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ssh-keygen failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let tmp_pub = PathBuf::from(format!("{}.pub", tmp.display()));
        // The public half first: a private key without its public half is re-derived below.
        std::fs::rename(&tmp_pub, &public).map_err(|e| format!("saving the public key: {e}"))?;
        std::fs::rename(&tmp, &private).map_err(|e| format!("saving the private key: {e}"))?;
    }
    let mode = std::fs::metadata(&private)
        .map_err(|e| format!("{}: {e}", private.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} can be read by others (mode {:o}); ssh refuses such keys: chmod 600 it",
            private.display(),
            mode & 0o777
        ));
    }
    let text = match std::fs::read_to_string(&public) {
        Ok(t) => t,
        Err(_) => {
            let out = std::process::Command::new("ssh-keygen")
                .arg("-y")
                .arg("-f")
                .arg(&private)
                .output()
                .map_err(|e| format!("cannot run ssh-keygen: {e}"))?;
            let t = String::from_utf8_lossy(&out.stdout).to_string();
            std::fs::write(&public, &t).map_err(|e| format!("{}: {e}", public.display()))?;
            t
        }
    };
    Ok(KeyPair {
        private,
        public: text.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let k = ensure(&dir.path().join("ssh")).unwrap();
        assert!(k.public.starts_with("ssh-ed25519 "), "{}", k.public);
        let mode = std::fs::metadata(&k.private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ensure(&dir.path().join("ssh")).unwrap(), k);
        std::fs::set_permissions(&k.private, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            ensure(&dir.path().join("ssh"))
                .unwrap_err()
                .contains("chmod 600")
        );
    }
}
