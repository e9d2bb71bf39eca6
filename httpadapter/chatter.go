package httpadapter

func (h *Handler) chatterRoutes() []route { return nil }
