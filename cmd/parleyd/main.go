// Command parleyd is the Parley server: it loads the configuration, opens
// the content database, and serves XMPP clients (c2s with STARTTLS on 5222,
// direct TLS on 5223), SIP, HTTP (upload, SIP over WebSocket, /healthz on
// 5280) and the operators' endpoints (/metrics, /readyz, pprof on
// 127.0.0.1:5282) until SIGINT or SIGTERM. SIGHUP reloads the configuration file
// and the TLS certificate (reload.go).
//
// With no flags it runs a working single node for the domain localhost,
// keeping an embedded SQLite database and a generated self-signed
// certificate under ./data. See README.md for every flag and config key.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/cmd/internal/version"
	"github.com/parleychat/parley/compliance"
	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/pool"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/sip"
	"github.com/parleychat/parley/protocol/xmpp"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
	"github.com/parleychat/parley/storage/sqlite"
	"github.com/parleychat/parley/webclient"
	"github.com/parleychat/parley/webphone"
)

// Shutdown budgets: streams get this long to flush and close after
// SIGINT/SIGTERM, the HTTP server its own shorter time after that.
const (
	xmppShutdownTimeout = 10 * time.Second
	httpShutdownTimeout = 5 * time.Second
)

// processLogger, when set, is given the server's logger once run made
// it. Only main sets it, before run: what it does is process-wide.
var processLogger func(*slog.Logger)

func main() {
	processLogger = sip.SetLibraryLogger
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills the process at once.
	context.AfterFunc(ctx, stop)
	// SIGHUP (what logrotate and service managers send) reloads. It is
	// caught from the start: one that comes during start-up must not end
	// the process, it waits for the server to be up.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	os.Exit(run(ctx, os.Args[0], os.Args[1:], os.Stdout, os.Stderr, hup))
}

// run is parleyd's main without the process around it, so tests can run it
// in-process: it serves until ctx ends, reloading on each value from
// reload (nil: never), and returns the exit code (0 after a clean stop, 1
// on a start-up or serving error, 2 on bad usage).
func run(ctx context.Context, argv0 string, args []string, stdout, stderr io.Writer, reload <-chan os.Signal) int {
	fs := flag.NewFlagSet("parleyd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parleyd [flags]\n\nThe Parley persistent chat server. Every flag is also a key of the --config file.\n\nFlags:\n")
		config.PrintFlags(fs)
	}
	loader := config.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "parleyd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if loader.Version() {
		fmt.Fprintln(stdout, version.String("parleyd"))
		return 0
	}
	cfg, err := loader.Load()
	if err != nil {
		fmt.Fprintf(stderr, "parleyd: %v\n", err)
		return 1
	}
	level := new(slog.LevelVar) // --log-level changes on reload
	level.Set(cfg.LogLevel)
	log := slog.New(logHandler(stderr, cfg.LogFormat, level))
	if processLogger != nil {
		processLogger(log)
	}
	n := &node{cfg: cfg, started: cfg, loader: loader, level: level, log: log, stdout: stdout, systemd: &serviceManager{log: log}, ctlCommand: ctlCommand(argv0, loader)}
	if err := n.run(ctx, reload); err != nil {
		fmt.Fprintf(stderr, "parleyd: %v\n", err)
		return 1
	}
	return 0
}

// logHandler writes the log to w as --log-format says: logfmt text or JSON
// lines.
func logHandler(w io.Writer, format string, level slog.Leveler) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// node is one running parleyd.
type node struct {
	// cfg is the configuration last loaded, started the one the node
	// started with; loader loads it again on reload.
	cfg, started *config.Config
	loader       *config.Loader
	level        *slog.LevelVar
	log          *slog.Logger
	stdout       io.Writer
	// What a reload changes (reload.go): the certificate every TLS
	// listener serves, the XMPP limits, the upload limits (files is
	// nil without upload) and the administrators (console: the admin API).
	certs   *certificates
	xmpp    *xmpp.Server
	files   *muc.Files
	console *admin.Handler
	// systemd is told of readiness, reloads and the stop (Type=notify).
	systemd *serviceManager
	// ctlCommand is how the start-up message tells the operator to run
	// parleyctl, with the flags needed to reach the same database.
	ctlCommand string
	// retention purges history and compliance events as retention
	// allows, on the node holding the compliance lease (nil with
	// compliance off).
	retention *compliance.RetentionRunner
}

// listener is one configured listen address and what serves it.
type listener struct {
	flag  string // the config key, named in errors
	addr  string
	what  string
	serve func(net.Listener) error
	ln    net.Listener
	// packet, when set, serves a UDP socket instead of serve.
	packet func(net.PacketConn) error
	pc     net.PacketConn
	// required listeners stop the start when they cannot open; the
	// others are skipped when their address is in use (unless
	// --strict-listeners), and skipped says why.
	required bool
	skipped  error
}

// boundAddr returns the bound address, or nil if the listener is not open.
func (l *listener) boundAddr() net.Addr {
	switch {
	case l.ln != nil:
		return l.ln.Addr()
	case l.pc != nil:
		return l.pc.LocalAddr()
	}
	return nil
}

// close closes the socket, if open.
func (l *listener) close() {
	if l.ln != nil {
		l.ln.Close()
	}
	if l.pc != nil {
		l.pc.Close()
	}
}

// run starts everything, serves until ctx ends or a listener fails, then
// stops everything it started, in reverse order. Each value from reload
// reloads the configuration and the certificate.
func (n *node) run(ctx context.Context, reload <-chan os.Signal) error {
	cfg, log := n.cfg, n.log
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	cert, err := loadCertificate(cfg, log)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	n.certs = newCertificates(cert)

	store, err := backend.Open(ctx, cfg.Storage, contentrules.Rules{})
	if err != nil {
		return fmt.Errorf("--storage %s: %w", redactDSN(cfg.Storage), err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing storage", "err", err)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	dir, err := directory(cfg, store, reg, log)
	if err != nil {
		return err
	}
	var groups muc.Groups // nil interface without a directory
	if dir != nil {
		defer dir.Close()
		groups = dir
	}
	var xmppSrv atomic.Pointer[xmpp.Server] // set once it exists
	rooms, engine, pooled, err := n.roomService(ctx, store, reg, groups, func() int {
		if s := xmppSrv.Load(); s != nil {
			return s.SessionCount()
		}
		return 0
	})
	if err != nil {
		return err
	}
	if pooled != nil {
		defer pooled.Close()
	}
	if err := registerQueryMetrics(reg, "content", store); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := registerPoolMetrics(ctx, reg, "content", sqlite.VersionTable, store); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := registerAccessMetrics(reg, engine); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var files *muc.Files
	if cfg.UploadURL != "" {
		files, err = muc.NewFiles(engine, muc.FilesConfig{Store: store, MaxFileSize: cfg.UploadMaxSize, Quota: cfg.UploadQuota,
			SlotsPerHour: cfg.UploadSlotsPerHour, BytesPerHour: cfg.UploadBytesPerHour})
		if err != nil {
			return fmt.Errorf("file upload: %w", err)
		}
	}
	// 1:1 messages between the front doors (DESIGN §3): each is a
	// Deliverer for its own endpoints; XMPP's offline storage keeps what
	// nobody could take.
	im := interop.NewRouter()
	s2s, err := n.federation(ctx, store)
	if err != nil {
		return err
	}
	var verifier auth.Verifier // nil interface: the stored verifiers
	if dir != nil {
		verifier = dir
	}
	srv, err := xmpp.NewServer(xmpp.Config{
		Verifier:              verifier,
		S2S:                   s2s,
		IM:                    im,
		SIPDomains:            slices.Collect(maps.Keys(cfg.SIPRoutes)),
		Rooms:                 rooms,
		Files:                 files,
		UploadURL:             cfg.UploadURL,
		Domain:                cfg.Domain,
		TLS:                   n.certs.tlsConfig(),
		Store:                 store,
		Logger:                log,
		Registerer:            reg,
		MaxUnauthPerIP:        cfg.MaxUnauthPerIP,
		MaxWebSessionsPerIP:   cfg.MaxWebSessionsPerIP,
		MaxRosterItems:        cfg.MaxRosterItems,
		MaxPendingRequests:    cfg.MaxPendingSubscriptions,
		WebAllowedOrigins:     cfg.HTTPAllowedOrigins,
		SendQueueLength:       cfg.SendQueue,
		SMResumeTimeout:       cfg.SMResumeTimeout,
		SMMaxResumable:        cfg.SMMaxResumable,
		SMMaxQueue:            cfg.SMMaxQueue,
		FastTokenLifetime:     cfg.FastTokenLifetime,
		PushInterval:          cfg.PushInterval,
		PushMaxErrors:         cfg.PushMaxErrors,
		PushBody:              cfg.PushBody,
		SendQueueBytes:        cfg.SendQueueBytes,
		SocketSendBuffer:      int(cfg.SocketSendBuffer),
		SlowConsumerTime:      cfg.SlowConsumerTime,
		SlowConsumerRate:      cfg.SlowConsumerRate,
		StanzaRate:            cfg.StanzaRate,
		StanzaBurst:           cfg.StanzaBurst,
		UserStanzaRate:        cfg.UserStanzaRate,
		UserStanzaBurst:       cfg.UserStanzaBurst,
		IPStanzaRate:          cfg.IPStanzaRate,
		IPStanzaBurst:         cfg.IPStanzaBurst,
		ChannelBinding:        cfg.ChannelBinding,
		Admins:                cfg.Admins,
		AllowRegistration:     cfg.AllowRegistration,
		ContactAddresses:      cfg.ContactAddresses,
		ExternalServices:      cfg.ExternalServices,
		ExternalServiceSecret: cfg.ExternalServiceSecret,
		Version:               version.Number(),
		Redirect:              redirect(pooled),
		Remote:                remote(pooled),
	})
	if err != nil {
		return err
	}
	if err := srv.SetLiveLimits(xmppLiveLimits(cfg)); err != nil {
		return err
	}
	n.xmpp, n.files = srv, files
	xmppSrv.Store(srv)
	if pooled != nil {
		if err := pooled.SetStanzaDoor(srv); err != nil {
			return fmt.Errorf("pool: %w", err)
		}
	}
	engine.SetAlerter(srv.TopicAlerter()) // topic feeds: headline alerts, raised by the rooms this node hosts
	worker, adapters, closeCompliance, err := n.startCompliance(ctx, store, reg)
	if err != nil {
		return err
	}
	defer closeCompliance()
	var sipPeerRoots *x509.CertPool
	if len(cfg.SIPTrustedPeerNames) > 0 {
		if sipPeerRoots, err = n.peerRoots(); err != nil {
			return err
		}
	}
	sipSrv, err := sip.NewServer(sip.Config{Domain: cfg.Domain, Accounts: store, Logger: log, Version: version.Number(),
		DigestAlgorithms: strings.Split(cfg.SIPDigest, ","), Rooms: rooms, IM: im, SendQueue: cfg.SIPSendQueue,
		MaxSubscriptions: cfg.SIPMaxSubscriptions, Registerer: reg,
		SourceRate: cfg.SIPSourceRate, SourceBurst: cfg.SIPSourceBurst, UserRate: cfg.SIPUserRate, UserBurst: cfg.SIPUserBurst,
		Routes: cfg.SIPRoutes, TrustedPeers: cfg.SIPTrustedPeers,
		TrustedPeerNames: cfg.SIPTrustedPeerNames, PeerRoots: sipPeerRoots, WebAllowedOrigins: cfg.HTTPAllowedOrigins})
	if err != nil {
		return fmt.Errorf("--sip-digest %s: %w", cfg.SIPDigest, err)
	}
	im.AddDeliverer(srv)
	im.AddDeliverer(sipSrv)
	if pooled != nil {
		im.AddDeliverer(pooled.IM(im)) // users on other nodes
	}
	im.SetStore(srv)
	im.SetRecorder(srv) // 1:1 messages from SIP users: archives and compliance
	defer sipSrv.Close()
	pages := webPages(cfg.Domain, srv.MUCDomain(), sipSrv.RoomHost())
	rates := newHTTPLimits(cfg.HTTPRequestRate, cfg.HTTPRequestBurst, httpTimeouts{
		Header: cfg.HTTPHeaderTimeout, Read: cfg.HTTPReadTimeout, Write: cfg.HTTPWriteTimeout, Idle: cfg.HTTPIdleTimeout}, reg)
	node, err := nodeID(cfg.Node, cfg.Data) // names this node's row of the s2s link table
	if err != nil {
		return err
	}
	console, err := adminHandler(cfg, store, rooms, engine, srv, sipSrv, verifier, dir, reg, node, n)
	if err != nil {
		return err
	}
	n.console = console
	httpSrv := newHTTPServer(store, log, srv.UploadHandler(), sipSrv.WebSocketHandler(), srv, pages, rates, nil, cfg.HTTPTrustedProxies)
	// The admin console only over HTTPS: its session cookie is Secure.
	httpsSrv := newHTTPServer(store, log, srv.UploadHandler(), sipSrv.WebSocketHandler(), srv, pages, rates, console, cfg.HTTPTrustedProxies)
	httpsTLS := n.certs.tlsConfig()
	// HTTP/1.1 only: WebSocket upgrades take the connection over, which
	// HTTP/2 streams cannot.
	httpsTLS.NextProtos = []string{"http/1.1"}
	var ready atomic.Bool // /readyz: from when every listener is open until the stop
	adminSrv := newAdminServer(store, reg, log, &ready)
	sipTLS := n.certs.tlsConfig()

	listeners := []*listener{
		{flag: "xmpp-c2s", addr: cfg.XMPPC2S, what: "XMPP c2s (STARTTLS)", serve: srv.ServeC2S, required: true},
		// The XMPP server does the direct TLS handshake itself (XEP-0368).
		{flag: "xmpp-tls", addr: cfg.XMPPTLS, what: "XMPP direct TLS (XEP-0368)", serve: srv.ServeDirectTLS},
		{flag: "xmpp-s2s", addr: cfg.XMPPS2S, what: "XMPP server-to-server (federation)", serve: srv.ServeS2S},
		{flag: "xmpp-s2s-tls", addr: s2sTLSAddr(cfg), what: "XMPP server-to-server, direct TLS (XEP-0368)", serve: srv.ServeS2STLS},
		{flag: "http", addr: cfg.HTTP, what: "HTTP (/healthz, upload, /sip)", serve: httpSrv.Serve},
		{flag: "https", addr: cfg.HTTPS, what: "HTTPS (web client, /xmpp-websocket, /http-bind, upload, /sip)", serve: func(ln net.Listener) error {
			return httpsSrv.Serve(tls.NewListener(ln, httpsTLS))
		}},
		{flag: "admin-http", addr: cfg.AdminHTTP, what: "admin HTTP (/metrics, /healthz, /readyz, /debug/pprof/)", serve: adminSrv.Serve},
		{flag: "sip", addr: cfg.SIP, what: "SIP over UDP", packet: sipSrv.ServeUDP},
		{flag: "sip", addr: cfg.SIP, what: "SIP over TCP", serve: sipSrv.ServeTCP},
		{flag: "sip-tls", addr: cfg.SIPTLS, what: "SIP over TLS", serve: func(ln net.Listener) error { return sipSrv.ServeTLS(ln, sipTLS) }},
	}
	if err := bind(ctx, listeners, cfg.StrictListeners, log); err != nil {
		return err
	}
	removePID, err := writePIDFile(cfg.PIDFile())
	if err != nil {
		for _, l := range listeners {
			l.close()
		}
		return err
	}
	defer removePID()
	n.announce(cert, listeners)
	ready.Store(true)
	n.systemd.ready(fmt.Sprintf("serving %s", cfg.Domain))

	g, gctx := errgroup.WithContext(ctx)
	if worker != nil {
		g.Go(func() error { return worker.Run(gctx) })
	}
	if adapters != nil {
		g.Go(func() error { return adapters.Run(gctx) })
	}
	if n.retention != nil {
		g.Go(func() error { return n.retention.Run(gctx) })
	}
	// Changes made by parleyctl or other pool nodes to who may be in a
	// room reach the occupants of this node's rooms.
	g.Go(func() error { return engine.FollowChanges(gctx, cfg.RoomChangePoll) })
	// Changes of directory groups (which write no room change) reach them
	// too: the rooms whose policy names a group are rechecked as often as
	// the groups' cache expires.
	g.Go(func() error { return engine.FollowGroups(gctx, groupRecheck(cfg.LDAPCacheTTL)) })
	g.Go(func() error { return n.systemd.watchdog(gctx) })
	if s2s != nil {
		g.Go(func() error { return publishS2S(gctx, store, node, srv, log) })
	}
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-reload:
				n.reload()
			}
		}
	})
	for _, l := range listeners {
		if l.boundAddr() == nil {
			continue
		}
		g.Go(func() error {
			var err error
			if l.pc != nil {
				err = l.packet(l.pc)
			} else {
				err = l.serve(l.ln)
			}
			if gctx.Err() != nil {
				return nil // stopping: the listener was closed on purpose
			}
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			return fmt.Errorf("%s on %s: %w", l.what, l.boundAddr(), err)
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		ready.Store(false)
		n.systemd.stopping()
		log.Info("shutting down")
		// Each Shutdown closes its own listeners first, then its
		// connections. Problems are logged, not returned: the stop that
		// was asked for has happened either way.
		sctx, cancel := context.WithTimeout(context.Background(), xmppShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Error("closing XMPP streams", "err", err)
		}
		hctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
		defer cancel()
		if err := httpSrv.Shutdown(hctx); err != nil {
			log.Error("closing HTTP server", "err", err)
		}
		if err := httpsSrv.Shutdown(hctx); err != nil {
			log.Error("closing HTTPS server", "err", err)
		}
		if err := adminSrv.Shutdown(hctx); err != nil {
			log.Error("closing the admin HTTP server", "err", err)
		}
		// A listener whose Serve had not started yet is still open.
		for _, l := range listeners {
			l.close()
		}
		return nil
	})
	err = g.Wait()
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// startCompliance records the node's compliance setting if it changed since
// the last start (an outbox event, see compliance.RecordSetting) and, with
// compliance on, opens the compliance database and returns the worker and
// the adapter runner (nil with --compliance-adapter none) to run, and a
// function that closes the database after they stopped.
func (n *node) startCompliance(ctx context.Context, store storage.Store, reg prometheus.Registerer) (*compliance.Worker, *compliance.AdapterRunner, func(), error) {
	cfg, log := n.cfg, n.log
	outbox, ok := store.(storage.ComplianceOutbox)
	if !ok {
		return nil, nil, nil, fmt.Errorf("--storage %s: the store has no compliance outbox", redactDSN(cfg.Storage))
	}
	node, err := nodeID(cfg.Node, cfg.Data)
	if err != nil {
		return nil, nil, nil, err
	}
	if changed, err := compliance.RecordSetting(ctx, outbox, filepath.Join(cfg.Data, compliance.StateFile), node, cfg.Compliance); err != nil {
		return nil, nil, nil, fmt.Errorf("--compliance: %w", err)
	} else if changed {
		log.Info("compliance setting recorded", "compliance", cfg.Compliance)
	}
	if !cfg.Compliance {
		return nil, nil, func() {}, nil
	}
	cstore, err := backend.OpenCompliance(ctx, cfg.ComplianceStorage)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--compliance-storage %s: %w", redactDSN(cfg.ComplianceStorage), err)
	}
	if err := registerQueryMetrics(reg, "compliance", cstore); err != nil {
		cstore.Close()
		return nil, nil, nil, fmt.Errorf("metrics: %w", err)
	}
	if err := registerPoolMetrics(ctx, reg, "compliance", sqlite.ComplianceVersionTable, cstore); err != nil {
		cstore.Close()
		return nil, nil, nil, fmt.Errorf("metrics: %w", err)
	}
	closeStore := func() {
		if err := cstore.Close(); err != nil {
			log.Error("closing the compliance database", "err", err)
		}
	}
	w, err := compliance.NewWorker(compliance.WorkerConfig{
		Outbox: outbox, Store: cstore, Holder: node, Logger: log, Registerer: reg,
	})
	if err != nil {
		closeStore()
		return nil, nil, nil, err
	}
	if content, ok := store.(compliance.RetentionContent); ok {
		rr, err := compliance.NewRetentionRunner(compliance.RetentionConfig{
			Content: content, Compliance: cstore, Holder: node,
			ComplianceRetention: cfg.ComplianceRetention, Logger: log,
			ArchiveRetention: cfg.ArchiveRetention, Domain: cfg.Domain,
		})
		if err != nil {
			closeStore()
			return nil, nil, nil, err
		}
		n.retention = rr
	} else if cfg.ComplianceRetention > 0 {
		closeStore()
		return nil, nil, nil, fmt.Errorf("--storage %s: the store cannot purge for --compliance-retention", redactDSN(cfg.Storage))
	}
	var adapter compliance.Adapter
	switch cfg.ComplianceAdapter {
	case "xml":
		adapter = &compliance.XMLAdapter{Dir: cfg.ComplianceOutput, PerRoom: cfg.CompliancePerRoom}
	case "jsonl":
		adapter = &compliance.JSONLinesAdapter{Dir: cfg.ComplianceOutput}
	default: // none
		return w, nil, closeStore, nil
	}
	r, err := compliance.NewAdapterRunner(compliance.AdapterRunnerConfig{
		Store: cstore, Adapters: []compliance.Adapter{adapter}, Holder: node,
		Interval: cfg.ComplianceInterval, MaxBatch: cfg.ComplianceFileEvents, Logger: log, Registerer: reg,
	})
	if err != nil {
		closeStore()
		return nil, nil, nil, err
	}
	return w, r, closeStore, nil
}

// nodeID names this node in the compliance lease and events: its pool
// name (--node) when it has one, else the host and the data directory,
// which two nodes never share.
func nodeID(name, data string) (string, error) {
	id := name
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("node id: %w", err)
		}
		dir, err := filepath.Abs(data)
		if err != nil {
			return "", fmt.Errorf("node id: --data: %w", err)
		}
		id = host + ":" + dir
	}
	if r := []rune(id); len(r) > storage.MaxLeaseHolderLength {
		id = string(r[:storage.MaxLeaseHolderLength])
	}
	return id, nil
}

// bind opens every configured listener, or none: on an error the ones
// already open are closed and the error names the flag and address. An
// optional listener whose address is in use is skipped instead, with a
// warning that names its flag, unless strict: a port another program
// holds (a SIP phone or PBX on 5060, a web server on 5280) should not keep
// XMPP from starting.
func bind(ctx context.Context, listeners []*listener, strict bool, log *slog.Logger) error {
	var lc net.ListenConfig
	for _, l := range listeners {
		if l.addr == "" {
			continue // disabled
		}
		var err error
		if l.packet != nil {
			l.pc, err = lc.ListenPacket(ctx, "udp", l.addr)
		} else {
			l.ln, err = lc.Listen(ctx, "tcp", l.addr)
		}
		if err != nil && !l.required && !strict && errors.Is(err, syscall.EADDRINUSE) {
			l.skipped = err
			log.Warn(fmt.Sprintf("%s not started: %s is in use by another program; serving the rest without it. "+
				"Free the port, move it with --%s ADDR, or disable it with --%s '' (--strict-listeners makes this an error)",
				l.what, l.addr, l.flag, l.flag), "flag", l.flag, "addr", l.addr, "err", err)
			continue
		}
		if err != nil {
			for _, o := range listeners {
				o.close()
				o.ln, o.pc = nil, nil
			}
			return fmt.Errorf("--%s %s: %w", l.flag, l.addr, err)
		}
	}
	return nil
}

// announce tells the operator, on stdout, what is served where and what to
// do next.
func (n *node) announce(cert serverCert, listeners []*listener) {
	w, cfg := n.stdout, n.cfg
	fmt.Fprintf(w, "parleyd %s: XMPP domain %s, storage %s\n", version.Number(), cfg.Domain, redactDSN(cfg.Storage))
	if cert.selfSigned {
		fmt.Fprintf(w, "parleyd: TLS certificate %s (self-signed, SHA-256 %s)\n", cert.certFile, cert.fingerprint())
	} else {
		fmt.Fprintf(w, "parleyd: TLS certificate %s\n", cert.certFile)
	}
	serving := 0
	for _, l := range listeners {
		if a := l.boundAddr(); a != nil {
			fmt.Fprintf(w, "parleyd: %s on %s\n", l.what, a)
			serving++
		} else if l.skipped != nil {
			fmt.Fprintf(w, "parleyd: %s NOT started: %s is in use (see the warning; --%s '' disables it)\n", l.what, l.addr, l.flag)
		}
	}
	if serving == 0 {
		n.log.Warn("every listener is disabled; serving nothing")
	}
	fmt.Fprintf(w, "parleyd: chat rooms (XEP-0045, MAM) at conference.%s\n", cfg.Domain)
	if cfg.Compliance {
		fmt.Fprintf(w, "parleyd: compliance capture on, into %s\n", redactDSN(cfg.ComplianceStorage))
	} else {
		fmt.Fprintf(w, "parleyd: compliance copy off on this node: captured events wait in the outbox\n")
	}
	if cfg.UploadURL != "" {
		fmt.Fprintf(w, "parleyd: file upload (XEP-0363) at upload.%s, files under %s/upload/\n", cfg.Domain, cfg.UploadURL)
	}
	for _, l := range listeners {
		if a, ok := l.boundAddr().(*net.TCPAddr); ok && l.flag == "https" {
			if v := webclient.Version(); v != "" {
				fmt.Fprintf(w, "parleyd: web client (Converse.js %s) at https://%s/\n", v, webHost(cfg.Domain, a))
			} else {
				fmt.Fprintf(w, "parleyd: web client not built in (make webclient build); https://%s/ says so\n", webHost(cfg.Domain, a))
			}
			fmt.Fprintf(w, "parleyd: admin console at https://%s/admin for %s\n", webHost(cfg.Domain, a), adminsText(cfg.Admins))
			if v := webphone.Version(); v != "" {
				fmt.Fprintf(w, "parleyd: SIP phone page (SIP.js %s) at https://%s/phone\n", v, webHost(cfg.Domain, a))
			}
		}
	}
	fmt.Fprintf(w, "Create the first user: %s user add alice\n", n.ctlCommand)
	if cert.selfSigned {
		fmt.Fprintf(w, "Then log in as alice@%s; clients must be told to trust the self-signed certificate.\n", cfg.Domain)
	} else {
		fmt.Fprintf(w, "Then log in as alice@%s.\n", cfg.Domain)
	}
	n.log.Info("started", "version", version.String("parleyd"), "domain", cfg.Domain)
}

// webHost is how a browser on this host reaches a listener bound to a:
// the domain when it is localhost, else the address, with its port.
func webHost(domain string, a *net.TCPAddr) string {
	host := domain
	if domain != "localhost" {
		host = a.IP.String()
		if a.IP.IsUnspecified() {
			host = domain
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// ctlCommand is the parleyctl command line that reaches the same database
// as this parleyd: the parleyctl next to this binary (./bin/parleyctl after
// make build) or the one on PATH, with the flags that chose the database.
func ctlCommand(argv0 string, loader *config.Loader) string {
	cmd := "parleyctl"
	if strings.ContainsRune(argv0, os.PathSeparator) {
		sibling := filepath.Join(filepath.Dir(argv0), "parleyctl")
		if _, err := os.Stat(sibling); err == nil {
			if !filepath.IsAbs(sibling) && !strings.HasPrefix(sibling, ".") {
				sibling = "." + string(os.PathSeparator) + sibling
			}
			cmd = sibling
		}
	}
	parts := []string{shellQuote(cmd)}
	for _, key := range []string{"config", "data", "storage", "domain", "compliance-storage"} {
		if loader.IsSet(key) {
			parts = append(parts, "--"+key, shellQuote(loader.Value(key)))
		}
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@=,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// redactDSN hides the password in a mysql: DSN (see config.RedactDSN).
// remote is the XMPP server's Remote in a pool, nil on one node.
func remote(p *pool.Pool) xmpp.Remote {
	if p == nil {
		return nil
	}
	return p.Stanzas()
}

// redirect is the XMPP server's Redirect in a pool, nil on one node.
func redirect(p *pool.Pool) func() string {
	if p == nil {
		return nil
	}
	return p.Redirect
}

func redactDSN(dsn string) string { return config.RedactDSN(dsn) }

// registerQueryMetrics times every transaction and query the store runs,
// as parley_storage_query_seconds{db=WHAT, op, result}: op is what the store
// was asked to do (its method: AppendHistory, HistoryPage, SearchHistory,
// Capture, …), result ok or error. The content and compliance stores share
// the one histogram.
func registerQueryMetrics(reg prometheus.Registerer, what string, store any) error {
	s, ok := store.(interface {
		ObserveQueries(func(op string, took time.Duration, err error))
	})
	if !ok {
		return nil
	}
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "parley_storage_query_seconds",
		Help: "Time of each storage transaction or query, from its start to its commit or rollback, by database (content, compliance), operation (the store method) and result (ok; unavailable: no writable database server, during a failover; error).",
		// 0.25 ms to about 4 s.
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15),
	}, []string{"db", "op", "result"})
	if err := reg.Register(h); err != nil {
		already, ok := err.(prometheus.AlreadyRegisteredError)
		if !ok {
			return err
		}
		h = already.ExistingCollector.(*prometheus.HistogramVec)
	}
	succeeded := h.MustCurryWith(prometheus.Labels{"db": what, "result": "ok"})
	failed := h.MustCurryWith(prometheus.Labels{"db": what, "result": "error"})
	unavailable := h.MustCurryWith(prometheus.Labels{"db": what, "result": "unavailable"})
	s.ObserveQueries(func(op string, took time.Duration, err error) {
		if errors.Is(err, storage.ErrUnavailable) {
			unavailable.WithLabelValues(op).Observe(took.Seconds())
			return
		}
		if err != nil {
			failed.WithLabelValues(op).Observe(took.Seconds())
			return
		}
		succeeded.WithLabelValues(op).Observe(took.Seconds())
	})
	return nil
}

// registerPoolMetrics exports the database connection pools of a store
// (database/sql's statistics: go_sql_open_connections, go_sql_in_use_connections,
// go_sql_wait_count_total, go_sql_wait_duration_seconds_total, …), labelled
// db_name=WHAT-ROLE: content-write, content-read, compliance-readwrite;
// and the schema version the start-up migrations left, from the goose
// table versionTable, as parley_storage_schema_version{db=WHAT}.
func registerPoolMetrics(ctx context.Context, reg prometheus.Registerer, what, versionTable string, store any) error {
	p, ok := store.(interface{ Pools() map[string]*sql.DB })
	if !ok {
		return nil
	}
	var one *sql.DB
	for role, db := range p.Pools() {
		if err := reg.Register(collectors.NewDBStatsCollector(db, what+"-"+role)); err != nil {
			return err
		}
		one = db
	}
	var version int64
	if err := one.QueryRowContext(ctx, "SELECT COALESCE(MAX(version_id), 0) FROM "+versionTable+" WHERE is_applied").Scan(&version); err != nil {
		return fmt.Errorf("reading the %s schema version: %w", what, err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "parley_storage_schema_version",
		Help: "The schema version (last migration applied at start) of the content and compliance databases.", ConstLabels: prometheus.Labels{"db": what}})
	g.Set(float64(version))
	return reg.Register(g)
}

// registerAccessMetrics exports what revocation did on this node (muc
// revoke.go): room change log entries applied, occupants removed for lost
// access, watches ended, and the last entry's delay.
func registerAccessMetrics(reg prometheus.Registerer, e *muc.Engine) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_room_changes_applied_total",
			Help: "Room change log entries (changes to members, bans, walls, room settings, made anywhere) this node applied to its rooms."},
			func() float64 { return float64(e.AccessStats().Changes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_room_access_removals_total",
			Help: "Occupants removed from this node's rooms because they lost access (XEP-0045 status 301, 321 or 322)."},
			func() float64 { return float64(e.AccessStats().Removals) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_room_watches_revoked_total",
			Help: "Room watches (SIP conference subscriptions) ended because their user may no longer read the room."},
			func() float64 { return float64(e.AccessStats().Revoked) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_room_change_delay_seconds",
			Help: "How long the last room change log entry took from being recorded to being applied on this node."},
			func() float64 { return e.AccessStats().LastDelay.Seconds() }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
