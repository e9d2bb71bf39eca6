package httpadapter

func (h *Handler) openAPIRoutes() []route { return nil }
