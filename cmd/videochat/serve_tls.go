package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// tlsFlags choose how serve speaks TLS.
type tlsFlags struct {
	cert, key  string
	selfSigned bool
}

func (f *tlsFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.cert, "tls-cert", "", "serve https with this certificate (PEM; with --tls-key)")
	fl.StringVar(&f.key, "tls-key", "", "private key of --tls-cert (PEM)")
	fl.BoolVar(&f.selfSigned, "tls-self-signed", false, "serve https with a certificate made at start (LAN trials: browsers need https away from localhost)")
}

// config returns the TLS configuration, or nil for plain http.
func (f *tlsFlags) config(addr string, log *slog.Logger) (*tls.Config, error) {
	switch {
	case f.selfSigned && (f.cert != "" || f.key != ""):
		return nil, withCode(exitUsage, errors.New("--tls-self-signed and --tls-cert/--tls-key exclude each other"))
	case f.selfSigned:
		cert, err := selfSigned(addr)
		if err != nil {
			return nil, withCode(exitError, fmt.Errorf("self-signed certificate: %w", err))
		}
		sum := sha256.Sum256(cert.Certificate[0])
		log.Warn("serving a self-signed certificate: browsers will ask to accept it", "sha256", fmt.Sprintf("%X", sum))
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	case f.cert != "" || f.key != "":
		if f.cert == "" || f.key == "" {
			return nil, withCode(exitUsage, errors.New("--tls-cert and --tls-key go together"))
		}
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, withCode(exitUsage, fmt.Errorf("--tls-cert/--tls-key: %w", err))
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	}
	return nil, nil
}

// selfSigned makes a 30-day ECDSA certificate for localhost, the listen
// address, this host's name and its interface addresses.
func selfSigned(addr string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "videochat self-signed"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	tmpl.DNSNames, tmpl.IPAddresses = certNames(addr)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func certNames(addr string) ([]string, []net.IP) {
	dns := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if h, err := os.Hostname(); err == nil && h != "" {
		dns = append(dns, h)
	}
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			ips = append(ips, ip)
		} else if ip == nil && !strings.EqualFold(host, "localhost") {
			dns = append(dns, host)
		}
	}
	if as, err := net.InterfaceAddrs(); err == nil {
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				ips = append(ips, n.IP)
			}
		}
	}
	return dns, ips
}
