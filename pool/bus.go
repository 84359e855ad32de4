package pool

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// BusConfig says how a node joins the pool's bus.
type BusConfig struct {
	// Node is this node's name, unique in the pool.
	Node string
	// Listen is the pool address (host:port, port 8011 by default) where
	// the embedded NATS server accepts routes from other nodes.
	Listen string
	// Peers are other nodes' pool addresses.
	Peers []string
	// Secret authenticates and encrypts the routes (unless CertFile,
	// KeyFile and CAFile are given).
	Secret                    string
	CertFile, KeyFile, CAFile string
	// ExternalURL, when set, uses that NATS cluster instead of an embedded
	// server (Listen and Peers are then unused).
	ExternalURL string
}

// bus is a node's connection to the pool: an embedded NATS server
// clustered with the other nodes' (or an external cluster) and an
// in-process client of it.
type bus struct {
	srv *server.Server // nil with an external cluster
	nc  *nats.Conn
}

func startBus(cfg BusConfig, log *slog.Logger) (*bus, error) {
	if cfg.ExternalURL != "" {
		nc, err := nats.Connect(cfg.ExternalURL, nats.Name("parley-"+cfg.Node), nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf("pool: connecting to NATS at %s: %w", cfg.ExternalURL, err)
		}
		return &bus{nc: nc}, nil
	}
	opts, err := serverOptions(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("pool: bus: %w", err)
	}
	srv.SetLoggerV2(natsLogger{log.With("component", "pool-bus")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("pool: bus on %s did not start (is the address in use?)", cfg.Listen)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Token(opts.Authorization),
		nats.Name("parley-"+cfg.Node), nats.MaxReconnects(-1))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("pool: bus client: %w", err)
	}
	return &bus{srv: srv, nc: nc}, nil
}

func serverOptions(cfg BusConfig) (*server.Options, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("pool: address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("pool: address %q: bad port", cfg.Listen)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	var tlsOpts = cfg.CertFile != "" || cfg.KeyFile != "" || cfg.CAFile != ""
	if !tlsOpts && len(cfg.Secret) < MinSecretLength {
		return nil, fmt.Errorf("pool: a pool secret of at least %d characters (--pool-secret) or node certificates (--pool-cert, --pool-key, --pool-ca) are required", MinSecretLength)
	}
	secret := cfg.Secret
	if secret == "" {
		secret = "parley pool without a shared secret: certificates only"
	}
	user, password, err := routeCredentials(secret)
	if err != nil {
		return nil, err
	}
	var tc *tls.Config
	if tlsOpts {
		tc, err = fileTLS(cfg.CertFile, cfg.KeyFile, cfg.CAFile)
	} else {
		tc, err = secretTLS(cfg.Secret, cfg.Node)
	}
	if err != nil {
		return nil, err
	}
	// nats-server starts routing only once its client port is open, so
	// it opens one: on loopback, on a random port, behind a random token
	// that only this process knows (the node itself connects in-process).
	token := make([]byte, 24)
	_, _ = rand.Read(token)
	opts := &server.Options{
		ServerName:    cfg.Node,
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		Authorization: base64.RawURLEncoding.EncodeToString(token),
		NoSigs:        true,
		NoLog:         false,
		MaxPayload:    8 << 20,
		Cluster: server.ClusterOpts{
			Name:         "parley",
			Host:         host,
			Port:         port,
			Username:     user,
			Password:     password,
			AuthTimeout:  2,
			TLSTimeout:   2,
			PingInterval: time.Second,
			MaxPingsOut:  3,
			NoAdvertise:  true,
			TLSConfig:    tc,
		},
	}
	for _, p := range cfg.Peers {
		if p == "" || p == cfg.Listen {
			continue
		}
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", User: url.UserPassword(user, password), Host: p})
	}
	return opts, nil
}

func (b *bus) close() {
	if b.nc != nil {
		_ = b.nc.Drain()
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// rtt measures the bus round trip (to the embedded server, or the
// external cluster).
func (b *bus) rtt() (time.Duration, error) { return b.nc.RTT() }

// natsLogger sends the embedded server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, "TLS certificate chain and hostname of solicited routes will not be verified") {
		// Routes are verified by mutualTLS's VerifyPeerCertificate
		// against the pool CA; only host names are not checked.
		return
	}
	l.log.Warn(msg)
}
func (l natsLogger) Fatalf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, "Error trying to connect to route") {
		// Repeated every second while a peer is down; the pool logs
		// the node's loss and return itself.
		l.log.Debug(msg)
		return
	}
	l.log.Warn(msg)
}
func (l natsLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any) {}
