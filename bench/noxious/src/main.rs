//! One noxious 1.0.4 proxy with no toxics: `noxious-bench LISTEN UPSTREAM`.
//!
//! Uses the library the way noxious-server's store starts a proxy (initialize, then run on a
//! default multi-thread tokio runtime, as the server's `#[tokio::main]`), without the REST
//! API, which the benchmark does not need. Stops on SIGINT or SIGTERM.

use noxious::proxy::{ProxyConfig, ProxyRunner, Runner, Toxics};
use noxious::signal::{Close, Stop};
use noxious::socket::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: noxious-bench LISTEN UPSTREAM");
        std::process::exit(2);
    };
    let config = ProxyConfig {
        name: "bench".into(),
        listen,
        upstream,
        enabled: true,
        rand_seed: Some(1),
    };
    let (listener, info) =
        match ProxyRunner::initialize_proxy::<TcpListener>(config, Toxics::empty()).await {
            Ok(ready) => ready,
            Err(e) => {
                eprintln!("noxious-bench: cannot listen: {e}");
                std::process::exit(1);
            }
        };
    let (stop, stopper) = Stop::new();
    let (_close, closer) = Close::new();
    // Kept alive so the proxy's toxic-event listener does not see a closed channel.
    let (_events, receiver) = bmrng::channel(16);
    let proxy = tokio::spawn(ProxyRunner::run_proxy(
        listener, info, receiver, stop, closer,
    ));
    println!("noxious proxy ready");
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("noxious-bench: no signal handlers");
        std::process::exit(1);
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        r = proxy => eprintln!("noxious-bench: proxy ended: {r:?}"),
    }
    stopper.stop();
}
