//! A real browser for the console's tests: headless Chromium driven by
//! chromedriver over WebDriver (fantoccini). Debian's `chromium` and
//! `chromium-driver` packages provide both (scripts/lib.sh installs them). A test
//! that needs a browser never skips: without chromedriver it fails saying what to
//! install.

use fantoccini::{Client, ClientBuilder};
use std::path::PathBuf;
use std::time::Duration;

/// A running chromedriver and a browser session on it; both end when dropped
/// (the driver is killed with its browser).
pub struct Browser {
    pub client: Client,
    _driver: tokio::process::Child,
}

/// The chromedriver to use: `CHROMEDRIVER`, else `chromedriver` on the PATH.
fn driver_path() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned())
}

/// The browser binary: `CHROME_BIN`, else Debian's `/usr/bin/chromium`.
fn chrome_path() -> String {
    std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium
    /// window of a laptop's size.
    ///
    /// # Panics
    /// When chromedriver or Chromium is missing (naming the Debian packages), or
    /// the session cannot start.
    pub async fn start() -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            listener.local_addr().expect("an address").port()
        };
        let driver = driver_path();
        let child = tokio::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the console's browser tests need chromedriver ({driver}: {e}): install Debian's \
                     chromium and chromium-driver (`apt-get install chromium chromium-driver`, \
                     which scripts/test does through scripts/lib.sh), or set CHROMEDRIVER"
                )
            });
        let chrome = chrome_path();
        assert!(
            std::path::Path::new(&chrome).exists(),
            "the console's browser tests need Chromium at {chrome}: install Debian's chromium \
             (`apt-get install chromium chromium-driver`), or set CHROME_BIN"
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": chrome,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,860"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        _driver: child,
                    };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver at {url} did not open a Chromium session: {last:?}");
    }

    /// Clicks the element `css` names (waiting for it to be on the page) and, when
    /// the click submits a form or follows a link, waits until the next page has
    /// replaced this one: WebDriver's click can return before the browser has
    /// left the page, and a test reading the store or the page right after it
    /// would race the request. A click that loads nothing returns after 5 s.
    ///
    /// # Panics
    /// When no such element appears or the click fails.
    pub async fn click(&self, css: &str) {
        use fantoccini::Locator;
        let before = self.client.find(Locator::Css("html")).await.ok();
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        let Some(before) = before else { return };
        for _ in 0..100 {
            if before.tag_name().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The next page's document is there; let it finish loading.
        let _ = self.client.wait().for_element(Locator::Css("body")).await;
    }

    /// Saves a screenshot of the page as `{name}.png` under the test artefacts
    /// folder (`target/console-screenshots`) and prints its path.
    ///
    /// # Panics
    /// When the browser cannot take it or the file cannot be written.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let folder = screenshots_folder();
        std::fs::create_dir_all(&folder).expect("the screenshots folder");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot written");
        println!("screenshot: {}", path.display());
        path
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR/console-screenshots`, else the
/// workspace's `target/console-screenshots`.
pub fn screenshots_folder() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("console-screenshots")
}
