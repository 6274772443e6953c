//! The chat page in a real headless Chromium, driven through chromedriver (WebDriver): two
//! browsers open the page; what one sends, the other sees, through long polling alone.
//!
//! Needs `chromium` and `chromedriver` on the PATH (Debian: `apt-get install chromium
//! chromium-driver`). Without them the build script (`build.rs`) marks the test ignored, with
//! the reason, so plain `cargo test` shows the skip. In CI (`CI` set to any value) it never
//! does: there the browser is part of the test bed and its absence fails the test.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conformance::Server;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

const BINARY: &str = env!("CARGO_BIN_EXE_09-comet-chat");

fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(program))
        .find(|path| path.is_file())
}

/// chromedriver, started by us on a free port, ended by us.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Driver {
    fn start(program: PathBuf) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, addr }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: SocketAddr, chromium: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            // Headless, as root in a container, on a machine with no outside network:
            // the last flags stop Chromium phoning home.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-quic"]
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://{driver}"))
        .await
        .expect("a browser session")
}

#[test]
#[cfg_attr(
    browser_missing,
    ignore = "needs chromium and chromedriver on PATH (apt-get install chromium chromium-driver)"
)]
fn two_browsers_chat_through_long_polling() {
    // Only reached where build.rs found both, or in CI: a missing browser is a failure here.
    let (Some(chromium), Some(chromedriver)) = (
        find("chromium").or_else(|| find("chromium-browser")),
        find("chromedriver"),
    ) else {
        panic!(
            "chromium and chromedriver are not on PATH; install them (apt-get install chromium \
             chromium-driver)\nhint: outside CI the test is ignored when they are missing; in CI it must run"
        );
    };
    let server = Server::start(BINARY, &[]).expect("start the chat");
    let driver = Driver::start(chromedriver);
    let page = format!("http://{}/", server.addr());
    let chromium = chromium.display().to_string();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ada = browser(driver.addr, &chromium).await;
        let bob = browser(driver.addr, &chromium).await;
        ada.goto(&page).await.expect("ada opens the page");
        bob.goto(&page).await.expect("bob opens the page");

        // Bob's page is now waiting on /wait. Ada speaks.
        ada.find(Locator::Id("name"))
            .await
            .expect("name")
            .send_keys("Ada")
            .await
            .expect("type");
        let text = ada.find(Locator::Id("text")).await.expect("text box");
        text.send_keys("hello from Ada's browser")
            .await
            .expect("type");
        ada.find(Locator::Id("send"))
            .await
            .expect("send")
            .click()
            .await
            .expect("click");

        // Bob sees it, without reloading: his hanging /wait was answered.
        let line = bob
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath(
                "//ul[@id='messages']/li[contains(., \"hello from Ada's browser\")]",
            ))
            .await
            .expect("Bob's page shows Ada's message");
        assert_eq!(
            line.text().await.expect("text"),
            "Ada: hello from Ada's browser"
        );

        // The footer shows the server-side view: waiting browsers, few threads.
        let footer = bob
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath("//footer[contains(., 'browsers waiting')]"))
            .await
            .expect("the footer shows the stats");
        let stats = footer.text().await.expect("text");
        assert!(stats.contains("browsers waiting"), "{stats}");

        ada.close().await.ok();
        bob.close().await.ok();
    });
}
