// Compiles the C oracle used by the require_words target (httpd's own
// ap_getword_conf, see c/getword_conf.c).
fn main() {
    println!("cargo:rerun-if-changed=c/getword_conf.c");
    cc::Build::new()
        .file("c/getword_conf.c")
        .warnings(true)
        .compile("getword_conf_oracle");
}
