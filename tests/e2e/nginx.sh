# Sourced by the scripts that put nginx in front of replicas (tests/e2e/replicas.sh,
# scripts/bench-replicas.sh): one configuration, so the tests and the benchmark measure the
# same proxy.
#
#   nginx_conf FILE WORK FRONT_PORT "BALANCING" "UPSTREAM SERVERS" WORKER_CONNECTIONS KEEPALIVE
#
# BALANCING is an upstream directive (`hash $http_mcp_session_id consistent;`) or empty for
# round-robin; UPSTREAM SERVERS is `server host:port ...;` lines. SSE needs the proxy unbuffered
# and long read timeouts; keep-alive upstream connections need HTTP/1.1 without `Connection`.
nginx_conf() {
  local file=$1 work=$2 front=$3 balancing=$4 upstreams=$5 connections=$6 keepalive=$7
  cat >"$file" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections $connections; }
http {
  access_log off;
  upstream replicas { $balancing $upstreams keepalive $keepalive; }
  server {
    listen 127.0.0.1:$front;
    location /mcp {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
CONF
}
