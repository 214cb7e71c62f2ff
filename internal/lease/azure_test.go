package lease

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/phoenix-iac/phoenix/tests/procs"
)

// Azurite's well-known development account (public, in Azure's docs).
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// TestLeaseOnAzure: the lease on Azure Blob Storage's API, as served by
// Azurite (Microsoft's emulator, which applies If-None-Match: * to a blob's
// commit), with a backend URL as the Pulumi CLI takes it:
// azblob://container/prefix, the account and key in AZURE_STORAGE_ACCOUNT
// and AZURE_STORAGE_KEY.
func TestLeaseOnAzure(t *testing.T) {
	client, query := azuriteContainer(t, "state")
	ctx := context.Background()
	machinesAtOnce(t, "azblob://state/team"+query, "azblob://missing/team"+query, func() int {
		prefix := "team/" + Prefix
		pager := client.NewListBlobsFlatPager("state", &container.ListBlobsFlatOptions{Prefix: &prefix})
		n := 0
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Segment.BlobItems)
		}
		return n
	})
}

// azuriteContainer starts Azurite with a container of that name, sets the
// account for gocloud.dev, and returns a client and the query that an
// azblob:// URL needs to reach it.
func azuriteContainer(t testing.TB, name string) (*azblob.Client, string) {
	endpoint := startAzurite(t)
	t.Setenv("AZURE_STORAGE_ACCOUNT", azuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", azuriteKey)
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential(endpoint+"/"+azuriteAccount, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateContainer(context.Background(), name, nil); err != nil {
		t.Fatal(err)
	}
	return client, "?localemu=true&protocol=http&domain=" + strings.TrimPrefix(endpoint, "http://")
}

// startAzurite runs Azurite's blob service (installed into .bin/ by make
// tools) in memory on a free loopback port, returns its endpoint, and stops
// it (by its process group) when t ends. The test fails, never skips,
// without it.
func startAzurite(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("PHOENIX_AZURITE")
	if bin == "" {
		root, err := filepath.Abs("../..")
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(root, ".bin", "azurite", "node_modules", ".bin", "azurite-blob")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Azurite is not installed at %s (PHOENIX_AZURITE): run make tools, which installs it from the npm registry", bin)
	}
	port := procs.FreePort(t)
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--inMemoryPersistence",
		"--skipApiVersionCheck", "--silent")
	procs.Serve(t, "azurite", cmd, port, "make tools installs it from the npm registry")
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}
