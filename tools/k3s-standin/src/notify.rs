//! sd_notify: one datagram to `$NOTIFY_SOCKET` (a path, or `@name` for an
//! abstract socket), as a `Type=notify` service sends it.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (e.g. `READY=1\nSTATUS=...`). `Ok(false)`: no socket set.
pub fn send(state: &str) -> Result<bool, String> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()) else {
        return Ok(false);
    };
    let target = target.to_string_lossy().into_owned();
    send_to(&target, state).map(|()| true)
}

pub fn send_to(target: &str, state: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("sd_notify to {target}: {e}");
    let socket = UnixDatagram::unbound().map_err(fail)?;
    match target.strip_prefix('@') {
        Some(name) => {
            let addr = SocketAddr::from_abstract_name(name.as_bytes()).map_err(fail)?;
            socket.send_to_addr(state.as_bytes(), &addr).map_err(fail)?;
        }
        None => {
            socket.send_to(state.as_bytes(), target).map_err(fail)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_path_and_abstract_sockets() {
        let dir = std::env::temp_dir().join(format!("k3s-standin-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("notify.sock");
        let rx = UnixDatagram::bind(&path).expect("bind");
        send_to(&path.to_string_lossy(), "READY=1\n").expect("send");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1\n");

        let name = format!("k3s-standin-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let rx = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        send_to(&format!("@{name}"), "STATUS=x").expect("send abstract");
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"STATUS=x");
        let _ = std::fs::remove_dir_all(dir);
    }
}
