# An HTTPS origin for browser tests: a test CA of its own and a localhost
# certificate from it, made with openssl; Chromium accepts them through
# --ignore-certificate-errors-spki-list with the hashes from test_https_spkis.
# Source after common.sh.

# Writes DIR/{ca.pem, origin.key, chain.pem} (chain: origin + CA).
test_https_certs() {
  local dir=$1
  need_cmd openssl "see scripts/deps/apt-stack.txt"
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
      -subj "/CN=netvm test CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout origin.key -out origin.csr \
      -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > origin.ext
    openssl x509 -req -in origin.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile origin.ext \
      -out origin.pem 2>/dev/null
    cat origin.pem ca.pem > chain.pem
  ) || die "cannot make the test certificates"
}

# The base64 SHA-256 SubjectPublicKeyInfo hashes of DIR's CA and origin
# certificates, comma-separated, for --ignore-certificate-errors-spki-list.
test_https_spkis() {
  local dir=$1 spki
  spki() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64; }
  printf '%s,%s\n' "$(spki "$dir/ca.pem")" "$(spki "$dir/origin.pem")"
}

# Waits for a line matching PATTERN in FILE (a server's stdout) and prints it.
wait_for_line() {
  local file=$1 pattern=$2
  for _ in $(seq 100); do
    grep -m1 "$pattern" "$file" && return 0
    sleep 0.1
  done
  die "no '$pattern' in $file: $(cat "$file")"
}
