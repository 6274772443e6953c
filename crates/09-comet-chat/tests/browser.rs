//! The chat page in a real headless Chromium, driven through chromedriver (WebDriver): two
//! browsers pick names and chat through long polling alone (Enter sends; markup shows as
//! text); a third opens the page late and sees the history, joins, and leaves again, and the
//! others' "here now" lists follow; then the server is restarted on the same port, a message
//! typed while it was down is delivered, and both pages recover with what they showed.
//!
//! `COMET_SCREENSHOT=path.png cargo test -p step09-comet-chat --test browser` also saves
//! Ada's window as it looks at the end.
//!
//! Needs `chromium` and `chromedriver` on the PATH (Debian: `apt-get install chromium
//! chromium-driver`). Without them the build script (`build.rs`) marks the test ignored, with
//! the reason, so plain `cargo test` shows the skip. In CI (`CI` set to any value) it never
//! does: there the browser is part of the test bed and its absence fails the test.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
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

/// The chat server, on a port of our choosing (0: any), so that it can be restarted on the
/// same one. Ended by its handle, never by name.
struct Chat {
    child: Child,
    addr: SocketAddr,
}

impl Chat {
    fn start(port: u16) -> Chat {
        let mut child = Command::new(BINARY)
            .args(["--quiet", "--away-secs", "2", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the chat");
        let stdout = child.stdout.take().expect("its output");
        let (found, listening) = std::sync::mpsc::channel();
        // Read its output for its whole life, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in
                std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok)
            {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = found.send(addr.trim().parse::<SocketAddr>());
                }
            }
        });
        match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(addr)) => Chat { child, addr },
            other => panic!("the chat did not say where it listens: {other:?}"),
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// A Chromium session with a profile of its own, made fresh and removed after.
async fn browser(driver: SocketAddr, chromium: &str, profile: &Path) -> Client {
    let _ = std::fs::remove_dir_all(profile);
    std::fs::create_dir_all(profile).expect("a profile directory");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            // Headless, as root in a container, on a machine with no outside network:
            // the last flags stop Chromium phoning home.
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=900,700", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-quic",
                     format!("--user-data-dir={}", profile.display())]
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://{driver}"))
        .await
        .expect("a browser session")
}

/// Wait (up to 20 s: the machine may be busy) until `xpath` matches on `who`'s page.
async fn until(who: &Client, what: &str, xpath: &str) -> fantoccini::elements::Element {
    match who
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(xpath))
        .await
    {
        Ok(element) => element,
        Err(err) => {
            let page = match who.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("{what}: not seen within 20 s ({err}); the page shows:\n{page}")
        }
    }
}

/// Type into a field, then press Enter (the forms submit on Enter, as people expect).
async fn type_and_enter(who: &Client, field: &str, text: &str) {
    // The field appears when the page is ready for it (the message box after joining).
    let input = until(
        who,
        field,
        &format!("//input[@id='{field}'][not(ancestor::*[@hidden])]"),
    )
    .await;
    input
        .clear()
        .await
        .unwrap_or_else(|err| panic!("cannot clear #{field}: {err}"));
    input
        .send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .expect("type");
}

const HERE_BOTH: &str = "//ul[@id='here'][li[starts-with(., 'Ada')] and li[starts-with(., 'Bob')]]";

fn said(name: &str, text: &str) -> String {
    format!("//ul[@id='messages']/li[b='{name}:' and contains(., \"{text}\")]")
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
    let server = Chat::start(0);
    let driver = Driver::start(chromedriver);
    let page = format!("http://{}/", server.addr);
    let chromium = chromium.display().to_string();
    let profiles = std::env::temp_dir().join(format!("comet-chat-test-{}", std::process::id()));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ada = browser(driver.addr, &chromium, &profiles.join("ada")).await;
        let bob = browser(driver.addr, &chromium, &profiles.join("bob")).await;
        ada.goto(&page).await.expect("ada opens the page");
        bob.goto(&page).await.expect("bob opens the page");

        // Names are picked once; a name in use is refused with a reason.
        type_and_enter(&ada, "name", "Ada").await;
        until(&ada, "Ada in her own list", "//ul[@id='here']/li[.='Ada (you)']").await;
        type_and_enter(&bob, "name", "ada").await;
        until(&bob, "a taken name refused", "//p[@id='problem'][contains(., 'already called ada')]").await;
        type_and_enter(&bob, "name", "Bob").await;
        until(&ada, "Bob in Ada's list", HERE_BOTH).await;
        until(&bob, "Ada in Bob's list", HERE_BOTH).await;

        // Ada speaks, pressing Enter; markup is shown as text, never run as HTML.
        type_and_enter(&ada, "text", "hello <b>bold</b> & <img src=x onerror=alert(1)>").await;
        let line = until(&bob, "Ada's message on Bob's page", &said("Ada", "hello <b>bold</b>")).await;
        assert_eq!(
            line.text().await.expect("text"),
            "Ada: hello <b>bold</b> & <img src=x onerror=alert(1)>"
        );
        let markup = line.html(true).await.expect("html");
        assert!(
            markup.contains("&lt;b&gt;bold&lt;/b&gt;") && !markup.contains("<img"),
            "the text became markup: {markup}"
        );
        type_and_enter(&bob, "text", "hi Ada").await;
        until(&ada, "Bob's answer", &said("Bob", "hi Ada")).await;

        // A late joiner sees the history, and the others see her come and go.
        let carol = browser(driver.addr, &chromium, &profiles.join("carol")).await;
        carol.goto(&page).await.expect("carol opens the page");
        until(&carol, "the history for a late joiner", &said("Ada", "hello <b>bold</b>")).await;
        until(&carol, "the history for a late joiner", &said("Bob", "hi Ada")).await;
        type_and_enter(&carol, "name", "Carol").await;
        until(&ada, "Carol in Ada's list", "//ul[@id='here']/li[.='Carol']").await;
        carol.close().await.expect("carol closes her browser");
        until(&ada, "Carol's leave notice", "//ul[@id='messages']/li[@class='notice' and .='Carol left']").await;
        until(&bob, "Carol gone from Bob's list", &format!("{HERE_BOTH}[count(li)=2]")).await;

        // The server restarts. What Ada types meanwhile waits in her outbox.
        drop(server);
        until(&bob, "Bob's page noticing the server is gone", "//p[@id='problem'][contains(., 'lost the server')]").await;
        until(&bob, "the footer marked stale", "//footer[@class='stale'][starts-with(., 'stale')]").await;
        type_and_enter(&ada, "text", "typed while the server was down").await;
        let server = Chat::start(page_port(&page));
        let restarted = Instant::now();
        for who in [&ada, &bob] {
            until(who, "the restart noticed", "//li[@class='restart']").await;
            until(
                who,
                "the message typed during the restart, delivered after it",
                "//li[@class='restart']/following-sibling::li[b='Ada:' and contains(., 'typed while the server was down')]",
            )
            .await;
            until(who, "both names back in the list", HERE_BOTH).await;
        }
        let recovered = restarted.elapsed();
        eprintln!("both pages recovered {recovered:?} after the server restarted");
        // What was on screen before is still there.
        until(&bob, "the messages from before the restart", &said("Ada", "hello <b>bold</b>")).await;
        let problem = bob.find(Locator::Id("problem")).await.expect("problem line");
        assert_eq!(problem.text().await.expect("text"), "", "Bob's page still reports trouble");

        if let Some(path) = std::env::var_os("COMET_SCREENSHOT") {
            type_and_enter(&bob, "text", "welcome back, everyone").await;
            until(&ada, "the last line", &said("Bob", "welcome back")).await;
            let png = ada.screenshot().await.expect("screenshot");
            std::fs::write(&path, png).expect("write the screenshot");
        }

        // A very long word wraps instead of widening the list; a reader who scrolled up stays
        // where she is, and one at the bottom follows.
        type_and_enter(&ada, "text", &"w".repeat(300)).await;
        until(&bob, "the long word", &said("Ada", "wwwwwwwwww")).await;
        let scroll_up = "const l = document.getElementById('messages'); l.scrollTop = 0; \
                         return l.scrollHeight > l.clientHeight";
        let overflows = bob.execute(scroll_up, vec![]).await.expect("scroll up");
        assert_eq!(overflows, serde_json::json!(true), "the list should be full enough to scroll");
        type_and_enter(&ada, "text", "while Bob reads back").await;
        until(&bob, "a line while Bob reads back", &said("Ada", "while Bob reads back")).await;
        let (top, wide) = list_geometry(&bob).await;
        assert_eq!(top, 0.0, "Bob scrolled up to read, and was pulled down");
        assert!(!wide, "a 300-letter word widened the list instead of wrapping");
        let scroll_down = "const l = document.getElementById('messages'); l.scrollTop = l.scrollHeight";
        bob.execute(scroll_down, vec![]).await.expect("scroll down");
        type_and_enter(&ada, "text", "for the bottom").await;
        until(&bob, "the next line", &said("Ada", "for the bottom")).await;
        let at_bottom = "const l = document.getElementById('messages'); \
                         return l.scrollHeight - l.scrollTop - l.clientHeight < 40";
        let followed = bob.execute(at_bottom, vec![]).await.expect("ask the page");
        assert_eq!(followed, serde_json::json!(true), "Bob was at the bottom and was not kept there");

        // The footer shows the server-side view: waiting browsers, few threads.
        let footer = until(&bob, "the stats", "//footer[contains(., 'browsers waiting')][not(contains(., 'stale'))]").await;
        let stats = footer.text().await.expect("text");
        assert!(stats.contains("browsers waiting"), "{stats}");

        // Eight tabs in Ada's browser share one /wait, so a Send from the eighth is not stuck
        // behind seven hanging requests (a browser opens about six connections per host).
        for _ in 1..8 {
            let tab = ada.new_window(true).await.expect("a new tab");
            ada.switch_to_window(tab.handle).await.expect("switch to it");
            ada.goto(&page).await.expect("the page in another tab");
            until(&ada, "the shared history in a new tab", &said("Ada", "typed while the server")).await;
        }
        // Every tab has shown the history; give any tab that waits for itself a moment to ask.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let waiting = waiting_browsers(server.addr);
        assert_eq!(waiting, 2, "/wait requests hanging for Ada's 8 tabs and Bob's one\nhint: the tabs of one browser should share one wait");
        let sent = Instant::now();
        type_and_enter(&ada, "text", "from the eighth tab").await;
        until(&bob, "a message from the eighth tab", &said("Ada", "from the eighth tab")).await;
        eprintln!("a message from Ada's eighth tab reached Bob in {:?}", sent.elapsed());

        // The first tab is the one that waits for all. Closing it hands the wait on.
        let tabs = ada.windows().await.expect("Ada's tabs");
        ada.switch_to_window(tabs[0].clone()).await.expect("the first tab");
        let leads = ada.execute("return leading", vec![]).await.expect("ask the tab");
        assert_eq!(leads, serde_json::json!(true), "the first tab should be the one waiting");
        ada.close_window().await.expect("close it");
        ada.switch_to_window(tabs[tabs.len() - 1].clone()).await.expect("the last tab");
        type_and_enter(&bob, "text", "still there, Ada?").await;
        until(&ada, "news after the waiting tab closed", &said("Bob", "still there, Ada?")).await;
        ada.close().await.ok();
        bob.close().await.ok();
        drop(server);
    });
    let _ = std::fs::remove_dir_all(&profiles);
}

fn page_port(page: &str) -> u16 {
    page.trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("the page's port")
}

/// How many /wait requests the server holds, from its /stats.
fn waiting_browsers(addr: SocketAddr) -> u64 {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nhost: chat\r\nconnection: close\r\n\r\n")
        .expect("ask");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_default();
    let stats: serde_json::Value = serde_json::from_str(body).expect("stats are JSON");
    stats["waiting"].as_u64().expect("a count")
}

/// Where the reader's message list is scrolled to, and whether it is wider than its box.
async fn list_geometry(who: &Client) -> (f64, bool) {
    let answer = who
        .execute(
            "const l = document.getElementById('messages'); \
             return [l.scrollTop, l.scrollWidth > l.clientWidth]",
            vec![],
        )
        .await
        .expect("ask the page");
    (
        answer[0].as_f64().unwrap_or(-1.0),
        answer[1].as_bool().unwrap_or(true),
    )
}
