"""kubesim: a simulated Kubernetes + Istio/ASM cluster for testing servicemesh.asm (see README.md)."""
