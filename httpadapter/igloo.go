package httpadapter

func (h *Handler) iglooRoutes() []route { return nil }
